#!/usr/bin/env bash
# `make test`: every test tier against the real stack, in one run.
#
#   0. lint      ruff, and mypy --strict on the libraries, the stack and each service
#   1. unit      no I/O (library, services, stack); the chassis library's tests
#      deploy    deploy/ rendered and validated offline (kustomize, kubeconform), checked against the code
#   2. library   eventing against PostgreSQL, Kafka, the registry and Debezium
#   3. services  each service's tests (its database on the stack's PostgreSQL)
#   4. stack     tests/infra: Avro round trip, Debezium, persistence across down/up
#   5. e2e       the three services end to end (the seed's demo and more)
#   6. faults    components stopped, killed, replayed; convergence asserted
#
# Starts the stack (`stack up`) and, unless it was already running, stops it at the end
# (STACK_KEEP_UP=1 keeps it). Runs every tier even after a failure and exits non-zero if any
# tier failed, naming them.
set -uo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
run() { uv run --frozen --all-packages "$@"; }

already_up=0
if run stack status >/dev/null 2>&1; then already_up=1; fi
cleanup() {
  if [ "$already_up" = 0 ] && [ "${STACK_KEEP_UP:-0}" != 1 ]; then
    echo "== stopping the stack this run started"
    run stack down
  fi
}
trap cleanup EXIT

# The services: every folder under services/ with a pyproject.toml (it describes itself there).
services=()
for project in services/*/pyproject.toml; do services+=("$(basename "$(dirname "$project")")"); done

failed=()
tier() {
  local name=$1; shift
  echo
  echo "== $name: $*"
  if ! "$@"; then failed+=("$name"); fi
}

tier lint make --no-print-directory lint
tier "unit (eventing)" run pytest -q -m unit libs/eventing/tests
tier "unit (stack)" run pytest -q -m unit tests/infra
tier "chassis" bash -c "cd libs/chassis && uv run --frozen --all-packages pytest -q"
for service in "${services[@]}"; do
  tier "unit ($service)" bash -c "cd services/$service && uv run --frozen --all-packages pytest -q -m unit"
done
tier "deploy (offline)" run pytest -q tests/deploy

echo "== starting the stack"
run stack up || { echo "the stack did not start: see the message above"; exit 1; }

tier library bash -c "cd libs/eventing && uv run --frozen --all-packages pytest -q -m 'not unit'"
for service in "${services[@]}"; do
  tier "service $service" bash -c "cd services/$service && uv run --frozen --all-packages pytest -q -m 'not unit'"
done
tier stack run pytest -q tests/infra -m 'not unit'
tier e2e run pytest -q tests/e2e
tier faults run pytest -q tests/faults

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED tiers: ${failed[*]}"
  exit 1
fi
echo "all tiers passed"
