"""A replication slot lost while Kafka Connect is down: detected, named, recovered, no award wrong.

The three slots of the system (customers outbox, orders outbox, orders table capture) are
dropped while Connect is down and customers and orders are written meanwhile: their events
exist only in the databases. On restart the health checks turn red and the doctor names each
gap; ``eventing_cdc recover`` re-emits the kept outbox rows and snapshots the orders table
again; then every award is exact, and the points consumer's inbox absorbed what it had seen.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import psycopg
import pytest

from stack import api
from stack.services import SERVICES, service_env
from stack.settings import Settings
from stack.testing import eventually
from tests.faults.test_convergence_under_faults import (
    assert_awards,
    create_customers_with_orders,
    order_count,
)
from tests.helpers import oracle
from tests.helpers.api import Customers, Orders, Points

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SLOTS = {"customers": ["customers_outbox"], "orders": ["orders_outbox", "orders_cdc"]}
CONNECTORS = {"customers": ["customers-outbox"], "orders": ["orders-outbox", "orders-cdc"]}


def manage(stack: Settings, service_name: str, *args: str) -> subprocess.CompletedProcess[str]:
    (service,) = [s for s in SERVICES if s.name == service_name]
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=service.directory,
        env={**service_env(stack, service), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def points_duplicates(stack: Settings) -> int:
    with psycopg.connect(stack.postgres.url("points")) as conn:
        row: Any = conn.execute(
            "SELECT coalesce(sum(duplicates), 0) FROM eventing_consumer_status WHERE consumer_group = %s",
            ["points.read-model"],
        ).fetchone()
    return int(row[0])


@pytest.mark.timeout(900)
def test_slots_dropped_while_connect_is_down_are_detected_and_recovered_without_loss(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    # Given converged awards
    audit = oracle.Audit(stack)
    before = create_customers_with_orders(customers, orders, 5, "slot-before")
    assert_awards(points, before)
    # When every slot is dropped while Connect is down, and customers and orders are written
    with api.stopped("connect"):
        for database, slots in (("customer", SLOTS["customers"]), ("orders", SLOTS["orders"])):
            with psycopg.connect(stack.postgres.url(database), autocommit=True) as conn:
                for slot in slots:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", [slot])
        during = create_customers_with_orders(customers, orders, 10, "slot-gap")

    try:
        # Then the health checks turn red, naming the lost slot
        def red_naming_the_lost_slot(service: Customers | Orders) -> None:
            response = service.http.get("/health/", params={"only": "cdc"})
            assert response.status_code == 503, response.text
            assert "CDC101" in response.text, response.text

        eventually(lambda: red_naming_the_lost_slot(customers), timeout=120, interval=1.0)
        eventually(lambda: red_naming_the_lost_slot(orders), timeout=120, interval=1.0)
        # ...the doctor exits non-zero naming every gap (from which LSN and time)
        for service_name, connectors in CONNECTORS.items():
            doctor = manage(stack, service_name, "eventing_cdc", "doctor")
            assert doctor.returncode == 1, doctor.stdout + doctor.stderr
            for connector in connectors:
                assert f"CDC101 {connector}: slot missing" in doctor.stdout
            assert "committed 20" in doctor.stdout  # the gap's start time
        # ...and none of the events written meanwhile arrived
        assert all(points.award(cid) is None for cid in during)
        duplicates_before = points_duplicates(stack)
    finally:
        # When the recovery command runs for each connector (also if a check above failed, so
        # that the tests after this one find a working pipeline)
        for service_name, connectors in CONNECTORS.items():
            for connector in connectors:
                recovered = manage(stack, service_name, "eventing_cdc", "recover", connector)
                assert recovered.returncode == 0, recovered.stdout + recovered.stderr
                assert "recovered, RUNNING" in recovered.stdout

    # Then every award is exact, the health checks are green and the doctor is clean
    assert_awards(points, {**before, **during}, timeout=240)

    def green() -> None:
        for service in (customers, orders):
            response = service.http.get("/health/", params={"only": "cdc"})
            assert response.status_code == 200, response.text

    eventually(green, timeout=60, interval=1.0)  # the supervisors see them run again
    for service_name in CONNECTORS:
        doctor = manage(stack, service_name, "eventing_cdc", "doctor")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr

    # ...and events re-emitted from before the gap were seen again and skipped by the inbox
    def duplicates_counted() -> None:
        assert points_duplicates(stack) > duplicates_before

    eventually(duplicates_counted, timeout=60)
    # ...and exactly the events that had to be applied were: the customers of both batches, the
    # orders from before the gap, and one snapshot change per row of the orders table (a
    # snapshot change has its own position, so its translation is a new event); none dead-lettered
    with psycopg.connect(stack.postgres.url("orders")) as conn:
        row: Any = conn.execute("SELECT count(*) FROM orders_order").fetchone()
    snapshot_rows = int(row[0])

    def recorded_exactly_once() -> None:
        audit.assert_applied_exactly_once(
            {
                "points.read-model": 5 + 10 + order_count(5) + snapshot_rows,
                "orders.translator": order_count(5) + snapshot_rows,
            }
        )

    eventually(recorded_exactly_once, timeout=120, interval=1.0)
