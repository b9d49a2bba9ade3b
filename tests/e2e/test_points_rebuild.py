"""Rebuilding the points read model on the real stack while the live one serves (issue 7, item 5).

The live points consumer and web server keep running; ``manage.py points_rebuild`` runs beside
them as the one-off command it is in production (from this checkout, against the stack's
``points`` database, Kafka and registry). The test damages the live read model behind the
consumer's back, rebuilds while orders keep being created, and checks every award over HTTP
against what the HTTP responses imply. It leaves a correct live read model behind (the
rebuilt one) and drops the replaced tables.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from stack.settings import Settings
from stack.testing import eventually
from tests.helpers.api import Customers, Orders, Points

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POINTS = Path(__file__).resolve().parents[2] / "services" / "points"


def points_rebuild(stack: Settings, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **stack.environment(),
        "DATABASE_URL": stack.postgres.url("points"),
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "points_rebuild", *args],
        cwd=POINTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sql(stack: Settings, query: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    with psycopg.connect(stack.postgres.url("points"), autocommit=True) as conn:
        cursor = conn.execute(query, params or [])  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def index_names(stack: Settings, table: str) -> list[str]:
    rows = sql(stack, "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table])
    return [str(name) for (name,) in rows]


class Traffic:
    """Customers with orders created over HTTP in a loop; the awards their responses imply."""

    def __init__(self, customers: Customers, orders: Orders) -> None:
        self.customers, self.orders = customers, orders
        self.expected: dict[str, float] = {}
        self.created = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def one(self) -> None:
        customer_id = self.customers.create("Maggie", f"rebuild{self.created}")["id"]
        items = [self.orders.create(customer_id, 7 + self.created % 30 + j)["item_count"] for j in range(2)]
        self.expected[customer_id] = sum(items) / 42
        self.created += 1

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                self.one()
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> dict[str, float]:
        self.stop.set()
        self.thread.join(timeout=60)
        if self.error is not None:
            raise self.error
        return self.expected


def assert_awards(points: Points, expected: dict[str, float | None], timeout: float = 120) -> None:
    def check() -> None:
        wrong = {c: (points.award(c), want) for c, want in expected.items() if points.award(c) != want}
        assert not wrong, f"{len(wrong)} of {len(expected)} awards wrong, e.g. {list(wrong.items())[:3]}"

    eventually(check, timeout=timeout, interval=1.0)


@pytest.fixture
def no_rebuild_tables(stack: Settings) -> object:
    """No shadow or kept tables before; none left after (the live tables stay as rebuilt)."""
    result = points_rebuild(stack, "--drop-old")
    assert result.returncode == 0, result.stderr
    yield
    result = points_rebuild(stack, "--drop-old")
    assert result.returncode == 0, result.stderr


def test_rebuild_while_the_live_model_serves_keeps_every_award_exact(
    stack: Settings, customers: Customers, orders: Orders, points: Points, no_rebuild_tables: object
) -> None:
    # Given customers with orders (one changed, one deleted, one customer deleted), all applied
    expected: dict[str, float | None] = {}
    ids = [customers.create("Lisa", f"rebuild{i}")["id"] for i in range(6)]
    for i, customer_id in enumerate(ids):
        orders.create(customer_id, 42 * (i + 1))
    changed = orders.create(ids[0], 10)
    orders.update(changed["id"], item_count=52)
    dropped = orders.create(ids[1], 420)
    orders.delete(dropped["id"])
    customers.delete(ids[5])
    expected = {cid: 42 * (i + 1) / 42 for i, cid in enumerate(ids)}
    expected[ids[0]] = (42 + 52) / 42
    expected[ids[5]] = None
    assert_awards(points, expected)
    indexes_before = {t: index_names(stack, t) for t in ("points_customer", "points_order")}

    # And the live read model damaged behind the consumer's back
    sql(stack, "DELETE FROM points_order WHERE customer_id = %s", [ids[0]])
    sql(stack, "UPDATE points_order SET item_count = 1 WHERE customer_id = %s", [ids[1]])
    sql(stack, "UPDATE points_customer SET deleted = true WHERE customer_id = %s", [ids[2]])
    sql(stack, "DELETE FROM points_customer WHERE customer_id = %s", [ids[3]])
    damaged = [cid for cid in ids[:4] if points.award(cid) != expected[cid]]
    assert damaged == ids[:4]

    # When the read model is rebuilt while new customers and orders keep arriving
    traffic = Traffic(customers, orders)
    traffic.one()
    traffic.thread.start()
    result = points_rebuild(stack)
    created_at_swap = traffic.created
    eventually(lambda: traffic.created >= created_at_swap + 3, timeout=60)  # more after the swap
    expected.update(traffic.finish())

    # Then the swap happened, reported the damaged awards, and every award is exact
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Swapped in" in result.stdout, result.stdout
    differing = re.search(r"Awards that differ: (\d+)", result.stdout)
    assert differing is not None and int(differing.group(1)) >= len(damaged), result.stdout
    assert_awards(points, expected)
    # The rebuilt tables carry the live tables' index names; the replaced ones are kept
    assert {t: index_names(stack, t) for t in indexes_before} == indexes_before
    kept = "SELECT sum(item_count) FILTER (WHERE NOT deleted) FROM points_order_old WHERE customer_id = %s"
    assert sql(stack, kept, [ids[1]]) == [(1,)]  # as damaged
    # The replay left no consumer group behind (it never joined one)
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    groups = [g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid]
    assert not [g for g in groups if ".replay-" in g]
    phases = re.findall(r"^(?:SHARE|ACCESS EXCLUSIVE) lock: .*$", result.stdout, re.MULTILINE)
    total = re.search(r"\(total ([\d.]+)s", result.stdout)
    assert len(phases) == 2 and total is not None, result.stdout
    print(  # noqa: T201 - the figures of docs/decisions/0013 (pytest -s)
        f"\nrebuild: {total.group(1)} s in all; {'; '.join(phases)}; "
        f"{traffic.created} customers with 2 orders created over HTTP meanwhile"
    )


def test_a_dry_run_reports_differences_and_leaves_the_live_model_alone(
    stack: Settings, customers: Customers, orders: Orders, points: Points, no_rebuild_tables: object
) -> None:
    customer_id = customers.create("Ned", "rebuild")["id"]
    orders.create(customer_id, 84)
    assert_awards(points, {customer_id: 2.0})
    try:
        sql(stack, "UPDATE points_order SET item_count = 42 WHERE customer_id = %s", [customer_id])

        result = points_rebuild(stack, "--dry-run")

        assert result.returncode == 0, result.stderr + result.stdout
        assert "Dry run" in result.stdout
        assert points.award(customer_id) == 1.0  # still the damaged value: nothing swapped
        rebuilt = sql(
            stack, "SELECT item_count FROM points_order_rebuild WHERE customer_id = %s", [customer_id]
        )
        assert rebuilt == [(84,)]
    finally:  # repair what the test damaged, as the live consumer would never do by itself
        sql(stack, "UPDATE points_order SET item_count = 84 WHERE customer_id = %s", [customer_id])
    assert points.award(customer_id) == 2.0
