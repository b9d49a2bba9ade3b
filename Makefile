# Developer commands. `make help` lists every target with its `## description`.
# Keep each recipe a thin call into a tool (uv, stack, pytest) so CI and humans run the same thing.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Use the machine's Python 3.11: never let uv download an interpreter.
export UV_PYTHON_DOWNLOADS := never
UV ?= uv
STACK := $(UV) run --frozen --package eventing-stack stack

.PHONY: help install up down status logs reset

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

install: ## install Python deps (uv sync) and download the stack's distributions without starting them
	$(UV) sync --frozen --all-packages
	$(STACK) install

up: ## start the local stack (Postgres, Kafka, registry, Connect); installs what is missing; idempotent
	$(STACK) up

down: ## stop the local stack (reverse order); data is kept
	$(STACK) down

status: ## one line per stack component; fails when one is down
	$(STACK) status

logs: ## show where each component logs and the last lines (LINES=50 for more)
	$(STACK) logs --lines $(or $(LINES),20)

reset: ## delete all stack data (downloads kept): make reset CONFIRM=yes
	$(STACK) reset $(if $(filter yes,$(CONFIRM)),--yes)
