"""The seed's demo and the behaviour around it, through the services' HTTP APIs only."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from stack.settings import Settings
from stack.testing import eventually
from tests.helpers.api import Customers, Orders, Points

pytestmark = pytest.mark.e2e


def award_becomes(points: Points, customer_id: str, expected: float | None, timeout: float = 60.0) -> None:
    def check() -> None:
        assert points.award(customer_id) == expected

    eventually(check, timeout=timeout)


def test_seed_demo_create_customer_create_order_read_award(
    customers: Customers, orders: Orders, points: Points
) -> None:
    # Given a customer (the seed's Bart Simpson)
    customer = customers.create("Bart", "Simpson")
    # When an order with 3,340,000 items is placed
    order = orders.create(customer["id"], 3340000)
    assert order["customer_id"] == customer["id"] and order["item_count"] == 3340000
    # Then the points service eventually awards 3340000 / 42 points
    award_becomes(points, customer["id"], 79523.80952380953)


def test_unknown_customer_has_no_award(points: Points) -> None:
    assert points.award(uuid.uuid4()) is None


def test_order_arriving_before_its_customer_is_counted_once_the_customer_is_known(
    stack: Settings, customers: Customers, orders: Orders, points: Points, connect: httpx.Client
) -> None:
    # Given the customers' outbox connector is paused, so customer events wait in the WAL
    assert connect.put("/connectors/customers-outbox/pause").status_code == 202

    def paused() -> None:  # the pause is asynchronous: wait until the task has stopped reading
        status = connect.get("/connectors/customers-outbox/status").json()
        states = [status["connector"]["state"], *(t["state"] for t in status["tasks"])]
        assert all(state == "PAUSED" for state in states), states

    eventually(paused, timeout=60)
    try:
        customer = customers.create("Lisa", "Simpson")
        order = orders.create(customer["id"], 84)

        # When the order reaches the points service first
        def order_is_in_points_read_model() -> None:
            with psycopg.connect(stack.postgres.url("points")) as conn:
                row = conn.execute(
                    "SELECT item_count FROM points_order WHERE order_id = %s", [order["id"]]
                ).fetchone()
            assert row == (84,)

        eventually(order_is_in_points_read_model, timeout=60)
        # Then the customer is still unknown there...
        assert points.award(customer["id"]) is None
    finally:
        assert connect.put("/connectors/customers-outbox/resume").status_code == 202
    # ...and once the customer arrives, the order counts (no retry loop, nothing dropped)
    award_becomes(points, customer["id"], 2.0)


def test_customer_and_order_updates_and_deletes_converge(
    customers: Customers, orders: Orders, points: Points
) -> None:
    customer = customers.create("Homer", "Simpson")
    first = orders.create(customer["id"], 10)
    second = orders.create(customer["id"], 32)
    award_becomes(points, customer["id"], 1.0)
    # An order's item count changes
    orders.update(first["id"], item_count=52)
    award_becomes(points, customer["id"], 2.0)
    # An order is deleted
    orders.delete(second["id"])
    award_becomes(points, customer["id"], 52 / 42)
    # The customer is renamed (its state moves on; the award stays)
    customers.update(customer["id"], first_name="Max")
    award_becomes(points, customer["id"], 52 / 42)
    # The customer is deleted: the points service no longer knows them
    customers.delete(customer["id"])
    award_becomes(points, customer["id"], None)


@pytest.mark.slow
def test_a_hundred_customers_with_orders_created_in_parallel_converge_to_exact_awards(
    customers: Customers, orders: Orders, points: Points
) -> None:
    # Given 100 customers, each with several orders, all created concurrently
    counts = {i: [1 + (i * 7 + j) % 50 for j in range(1 + i % 4)] for i in range(100)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda i: customers.create(f"c{i}", "parallel")["id"], counts))
        ids = dict(zip(counts, created, strict=True))
        list(
            pool.map(
                lambda pair: orders.create(ids[pair[0]], pair[1]),
                [(i, n) for i, ns in counts.items() for n in ns],
            )
        )
    expected = {ids[i]: sum(ns) / 42 for i, ns in counts.items()}

    # Then every award is exact (no order lost, none counted twice)
    def all_exact() -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            actual = dict(zip(expected, pool.map(points.award, expected), strict=True))
        wrong = {k: (actual[k], v) for k, v in expected.items() if actual[k] != v}
        assert not wrong, f"{len(wrong)} awards not (yet) exact, e.g. {list(wrong.items())[:3]}"

    eventually(all_exact, timeout=180, interval=1.0)


def test_bad_requests_get_400_with_field_errors(customers: Customers, orders: Orders) -> None:
    missing = customers.http.post("/api/customers/", json={"first_name": "Bart"})
    assert missing.status_code == 400
    assert set(missing.json()) >= {"last_name", "date_established"}
    bad_date = customers.http.post(
        "/api/customers/",
        json={"first_name": "B", "last_name": "S", "date_established": "yesterday"},
    )
    assert bad_date.status_code == 400 and "date_established" in bad_date.json()
    not_json = orders.http.post(
        "/api/orders/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    bad_order = orders.http.post("/api/orders/", json={"customer_id": "not-a-uuid", "item_count": -3})
    assert bad_order.status_code == 400
    assert set(bad_order.json()) >= {"customer_id", "item_count"}


def test_requests_without_credentials_are_refused(customers: Customers) -> None:
    response = httpx.get(f"{customers.url}/api/customers/")
    assert response.status_code in (401, 403)


def test_health_endpoints_check_their_dependencies(
    customers: Customers, orders: Orders, points: Points
) -> None:
    for service in (customers, orders, points):
        response = service.health()
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ok"
    assert set(points.health().json()["checks"]) >= {
        "database",
        "kafka",
        "schema_registry",
        "consumer",
    }
