# Developer commands. `make help` lists every target with its `## description`.
# Keep each recipe a thin call into a tool (uv, stack, pytest) so CI and humans run the same thing.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Use the machine's Python 3.11: never let uv download an interpreter.
export UV_PYTHON_DOWNLOADS := never
# uv installed by scripts/bootstrap.sh with `pip --user` lands here.
export PATH := $(HOME)/.local/bin:$(PATH)
UV ?= uv
RUN := $(UV) run --frozen --all-packages
STACK := $(RUN) stack
BOOTSTRAP := scripts/bootstrap.sh
# The services: every folder under services/ (each describes itself in its pyproject.toml).
SERVICES := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/pyproject.toml))))

.PHONY: help install up down status logs reset demo test test-unit lint fmt contracts bench deploy-tools deploy-manifests deploy-check

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

install: ## install what a fresh machine lacks (uv, Python deps) and download the stack without starting it
	$(BOOTSTRAP)
	$(STACK) install

up: ## start everything: Postgres, Kafka, registry, Connect, the three services, their consumers and connector supervisors; idempotent
	@$(BOOTSTRAP)
	$(STACK) up

demo: ## the seed's demo on a fresh or running machine: installs, starts, creates a customer and an order, reads the award
	@$(BOOTSTRAP)
	$(STACK) up
	scripts/demo.sh

test: ## every test tier against the real stack (starts it; stops it again unless it was already up)
	@$(BOOTSTRAP)
	scripts/test.sh

test-unit: ## the fast tier: no I/O, no stack
	@$(BOOTSTRAP)
	$(RUN) pytest -q -m unit libs/eventing/tests
	$(RUN) pytest -q -m unit tests/infra
	cd libs/chassis && $(RUN) pytest -q -m unit
	for s in $(SERVICES); do (cd services/$$s && $(RUN) pytest -q -m unit) || exit 1; done

deploy-tools: ## install kustomize, kubeconform and the Kubernetes/Strimzi schemas into .deploy-tools/
	@$(BOOTSTRAP)
	$(RUN) python deploy/tools/install.py

deploy-manifests: ## regenerate deploy/base/generated/ (service workloads, connectors, topics, Connect plugins) from the code
	@$(BOOTSTRAP)
	$(RUN) python deploy/tools/install.py
	$(RUN) python deploy/tools/generate.py

deploy-check: ## offline: render the overlays, validate them (kubeconform), check them against the code
	@$(BOOTSTRAP)
	$(RUN) python deploy/tools/install.py
	$(RUN) pytest -q tests/deploy

lint: ## ruff (lint + format check) and mypy --strict on the libraries, the stack and each service
	@$(BOOTSTRAP)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy  # the libraries and the stack (pyproject.toml's [tool.mypy])
	for s in $(SERVICES); do (cd services/$$s && $(RUN) mypy) || exit 1; done

fmt: ## format and autofix with ruff
	@$(BOOTSTRAP)
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

contracts: ## regenerate the typed event records (contracts/python) from contracts/avro/*.avsc
	$(RUN) python -m eventing.codegen contracts/avro --out contracts/python/src/event_contracts

bench: ## benchmarks against the running stack (see benchmarks/README.md); results in benchmarks/results/
	@$(BOOTSTRAP)
	$(STACK) up
	$(RUN) python benchmarks/bench_consumer_throughput.py
	$(RUN) python benchmarks/bench_translator.py --members 3
	$(RUN) python benchmarks/bench_outbox_write.py
	$(RUN) python benchmarks/bench_convergence.py
	$(RUN) python benchmarks/bench_http_auth.py

down: ## stop everything (services first); data is kept
	@$(BOOTSTRAP)
	$(STACK) down

status: ## one line per component; fails when one is down
	@$(BOOTSTRAP)
	$(STACK) status

logs: ## show where each component logs and the last lines (LINES=50 for more)
	$(STACK) logs --lines $(or $(LINES),20)

reset: ## delete all stack data (downloads kept): make reset CONFIRM=yes
	$(STACK) reset $(if $(filter yes,$(CONFIRM)),--yes)
