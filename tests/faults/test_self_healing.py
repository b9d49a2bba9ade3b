"""Faults the pipeline must heal from by itself, within 60 s of the heal, with no manual step.

* The schema registry is SIGKILLed while orders flow and started again: the table-capture
  task's Avro converter fails (its task FAILED); the connector supervisor restarts it.
* The broker is paused (SIGSTOP) for longer than Connect's session timeout: the worker
  rejoins its group as a new member and its connectors would stay UNASSIGNED for Connect's
  default 5 min; the stack's worker reassigns them after 10 s, the supervisor restarts what
  is still stuck.

Each test also checks that each event was recorded exactly once by each consumer group and that
nothing was dead-lettered: an outage is not a poison event (``tests.helpers.oracle``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import httpx
import psycopg
import pytest

from stack import api
from stack.settings import Settings
from stack.testing import eventually
from tests.faults.test_convergence_under_faults import assert_awards, create_customers_with_orders, events_of
from tests.helpers import oracle
from tests.helpers.api import Customers, Orders, Points

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SYSTEM_CONNECTORS = {"customers-outbox", "orders-outbox", "orders-cdc"}


def supervisor_restarts(stack: Settings) -> int:
    total = 0
    for database in ("customer", "orders"):
        with psycopg.connect(stack.postgres.url(database)) as conn:
            row: Any = conn.execute(
                "SELECT coalesce(sum(total_restarts), 0) FROM eventing_connector_supervision"
            ).fetchone()
            total += int(row[0])
    return total


def pid_of(name: str) -> int:
    (component,) = [s for s in api.status([name]) if s.pid]
    assert component.pid is not None
    return component.pid


def connector_states(stack: Settings) -> dict[str, tuple[str, list[str]]]:
    body = httpx.get(f"{stack.connect_url}/connectors?expand=status", timeout=10).json()
    return {
        name: (v["status"]["connector"]["state"], [t["state"] for t in v["status"]["tasks"]])
        for name, v in body.items()
    }


@pytest.mark.timeout(600)
def test_registry_killed_mid_traffic_heals_without_a_manual_step(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    audit, restarts_before = oracle.Audit(stack), supervisor_restarts(stack)
    expected = create_customers_with_orders(customers, orders, 5, "registry-before")
    assert_awards(points, expected)
    # When the registry dies without warning, and the table-capture task restarts meanwhile
    # (any Connect rebalance does that) so its Avro converter has no schema cached
    os.kill(pid_of("registry"), signal.SIGKILL)
    httpx.post(
        f"{stack.connect_url}/connectors/orders-cdc/restart", params={"includeTasks": "true"}, timeout=30
    )
    # ...while orders keep coming: the converter cannot reach the registry, the task FAILS
    expected.update(create_customers_with_orders(customers, orders, 5, "registry-down"))

    def cdc_task_failed() -> None:
        assert "FAILED" in connector_states(stack)["orders-cdc"][1]

    eventually(cdc_task_failed, timeout=120, interval=1.0)
    # ...and the registry comes back
    api.up(["registry"])
    healed_at = time.monotonic()
    expected.update(create_customers_with_orders(customers, orders, 5, "registry-after"))
    # Then within 60 s of the heal every award is exact, with no restart by hand
    assert_awards(points, expected, timeout=max(5.0, 60 - (time.monotonic() - healed_at)))
    # ...because the supervisor restarted the task; each event was recorded once, none dead-lettered
    assert supervisor_restarts(stack) > restarts_before
    audit.assert_applied_exactly_once(events_of(5, 5, 5))


@pytest.mark.timeout(600)
def test_broker_paused_longer_than_the_session_timeout_heals_without_a_manual_step(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    audit = oracle.Audit(stack)
    expected = create_customers_with_orders(customers, orders, 5, "pause-before")
    assert_awards(points, expected)
    kafka = pid_of("kafka")
    # When the broker stalls for 20 s (Connect's worker session times out after 10 s)
    os.kill(kafka, signal.SIGSTOP)
    try:
        threading.Event().wait(20)  # the fault's duration, not a wait for a condition
        expected.update(create_customers_with_orders(customers, orders, 5, "pause-during"))
    finally:
        os.kill(kafka, signal.SIGCONT)
    healed_at = time.monotonic()
    expected.update(create_customers_with_orders(customers, orders, 5, "pause-after"))

    # Then within 60 s every connector runs again and every award is exact
    def connectors_running() -> None:
        states = {n: st for n, st in connector_states(stack).items() if n in SYSTEM_CONNECTORS}
        assert set(states) == SYSTEM_CONNECTORS, states
        assert all(c == "RUNNING" and t and all(s == "RUNNING" for s in t) for c, t in states.values()), (
            states
        )

    eventually(connectors_running, timeout=60, interval=1.0)
    assert_awards(points, expected, timeout=max(5.0, 60 - (time.monotonic() - healed_at)))
    audit.assert_applied_exactly_once(events_of(5, 5, 5))
