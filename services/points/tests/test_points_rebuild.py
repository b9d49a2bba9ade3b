"""points_rebuild's logic in the test database: shadow tables, exact swap, names, prepared statements.

The topics are the in-memory bus (``eventing.testing``); the same events reach the live tables
through the real batch processor (``deliver``), as the live consumer would apply them. The
run on the real stack (Kafka, the live consumer, HTTP) is ``tests/e2e/test_points_rebuild.py``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction

from eventing.events import EventType
from eventing.replay import TopicReplay
from eventing.runtime import get_codec
from eventing.testing import (
    InMemoryBroker,
    InMemoryReplayConsumer,
    cloudevent_message,
    deliver,
    eventually,
    in_memory_registry,
    make_event,
)
from points.events import CUSTOMER_ENTITY_DELETED, CUSTOMER_ENTITY_STATE, ORDER_CREATED, ORDER_DELETED
from points.rebuild import (
    GROUP,
    OLD_TABLES,
    SHADOW_TABLES,
    LockNotAcquired,
    RebuildRefused,
    _lock,
    create_shadow_tables,
    drop_tables,
    rebuild,
    swap_tables,
    table_exists,
)
from points.selectors import award_get
from points.services import LIVE_TABLES, OrderStateRow, order_states_apply_many

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _schemas() -> Iterator[None]:
    with in_memory_registry():
        yield


@pytest.fixture(autouse=True)
def _no_tables_left() -> Iterator[None]:
    yield
    drop_tables(OLD_TABLES, SHADOW_TABLES)


@pytest.fixture
def bus() -> InMemoryBroker:
    return InMemoryBroker(partitions=3)


class Stream:
    """Events put on the bus and applied to the live tables, as producer + live consumer do."""

    def __init__(self, bus: InMemoryBroker) -> None:
        self.bus = bus

    def send(self, event_type: EventType, data: dict[str, Any], *, live: bool = True) -> None:
        cloudevent_message(self.bus, event_type, data)
        if live:
            assert deliver([make_event(event_type, data)], group=GROUP).outcomes

    def customer(self, customer_id: uuid.UUID, version: int = 1, *, deleted: bool = False) -> None:
        data = {
            "id": customer_id,
            "first_name": "Bart",
            "last_name": "Simpson",
            "date_established": datetime(1980, 2, 23, tzinfo=UTC),
            "version": version,
        }
        self.send(CUSTOMER_ENTITY_DELETED if deleted else CUSTOMER_ENTITY_STATE, data)

    def order(
        self,
        customer_id: uuid.UUID,
        items: int,
        *,
        order_id: uuid.UUID | None = None,
        version: int = 1,
        deleted: bool = False,
        live: bool = True,
    ) -> uuid.UUID:
        order_id = order_id or uuid.uuid4()
        data = {
            "id": order_id,
            "customer_id": customer_id,
            "date_placed": datetime.now(UTC),
            "item_count": items,
            "version": version,
        }
        self.send(ORDER_DELETED if deleted else ORDER_CREATED, data, live=live)
        return order_id


def replay_of(bus: InMemoryBroker) -> TopicReplay:
    from eventing.consumer.registry import registry

    return TopicReplay(registry.for_group(GROUP), consumer=InMemoryReplayConsumer(bus), codec=get_codec())


def execute(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall() if cursor.description else []


def given_a_history(stream: Stream) -> tuple[dict[uuid.UUID, float | None], uuid.UUID, uuid.UUID]:
    """Customers with created, changed and deleted orders; one deleted customer."""
    a, b, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for customer_id in (a, b, gone):
        stream.customer(customer_id)
    stream.order(a, 42)
    changed = stream.order(a, 10)
    stream.order(a, 52, order_id=changed, version=2)
    stream.order(b, 84)
    dropped = stream.order(b, 420)
    stream.order(b, 420, order_id=dropped, version=2, deleted=True)
    stream.order(gone, 42)
    stream.customer(gone, version=2, deleted=True)
    return {a: 94 / 42, b: 2.0, gone: None}, a, b


def awards(expected: dict[uuid.UUID, float | None]) -> dict[uuid.UUID, float | None]:
    return {customer_id: award_get(customer_id=customer_id) for customer_id in expected}


def test_rebuild_restores_a_corrupted_read_model_and_swaps_it_in(bus: InMemoryBroker) -> None:
    stream = Stream(bus)
    expected, a, b = given_a_history(stream)
    assert awards(expected) == expected
    # Given a live read model damaged behind the consumer's back
    execute("DELETE FROM points_order WHERE customer_id = %s AND item_count = 42", [a])
    execute("UPDATE points_order SET item_count = 1 WHERE customer_id = %s", [b])
    assert awards(expected) != expected

    result = rebuild(replay_of(bus))

    assert result.swapped
    assert awards(expected) == expected
    assert result.comparison.awards_differing == 2
    assert {d.customer_id for d in result.comparison.examples} == {a, b}
    assert result.comparison.orders_differing == 3
    assert result.stats.applied == 11 and result.stats.poison == 0
    # The replaced tables are kept, as they were at the swap
    assert execute("SELECT count(*) FROM points_order_old")[0][0] == 4
    # And what the live consumer applies next lands in the new tables
    stream.order(a, 42)
    assert award_get(customer_id=a) == 136 / 42


def test_a_dry_run_compares_and_changes_nothing_live(bus: InMemoryBroker) -> None:
    stream = Stream(bus)
    expected, a, _ = given_a_history(stream)
    execute("UPDATE points_customer SET deleted = true WHERE customer_id = %s", [a])
    damaged = awards(expected)

    result = rebuild(replay_of(bus), swap=False)

    assert not result.swapped
    assert awards(expected) == damaged  # the live model is untouched
    assert result.comparison.awards_differing == 1
    assert result.comparison.examples[0].customer_id == a
    assert result.comparison.examples[0].before is None
    assert result.comparison.examples[0].after == expected[a]
    assert result.comparison.customers_differing == 1
    assert table_exists(SHADOW_TABLES.customer) and not table_exists(OLD_TABLES.customer)


def test_events_the_live_consumer_has_not_applied_yet_are_in_the_rebuilt_model(bus: InMemoryBroker) -> None:
    stream = Stream(bus)
    _, a, _ = given_a_history(stream)
    replay = replay_of(bus)
    # An event the live consumer has not applied yet when the rebuild takes its cut
    stream.order(a, 42, live=False)

    rebuild(replay)

    assert award_get(customer_id=a) == 136 / 42  # in the topic before the cut: replayed
    assert replay.remaining(replay.end_offsets()) == 0


def test_a_second_swap_is_refused_while_the_old_tables_are_kept(bus: InMemoryBroker) -> None:
    stream = Stream(bus)
    given_a_history(stream)
    rebuild(replay_of(bus))

    with pytest.raises(RebuildRefused, match="points_rebuild --drop-old"):
        rebuild(replay_of(bus))

    assert drop_tables(OLD_TABLES, SHADOW_TABLES) == list(OLD_TABLES)
    assert rebuild(replay_of(bus)).comparison.awards_differing == 0


def connect_other(**options: Any) -> psycopg.Connection[Any]:
    """A second connection to the test database (another process's, as it were)."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"],
        host=settings["HOST"], port=settings["PORT"], **options,
    )  # fmt: skip


def test_a_swap_that_cannot_get_its_lock_gives_up_and_changes_nothing(bus: InMemoryBroker) -> None:
    stream = Stream(bus)
    expected, a, _ = given_a_history(stream)
    execute("UPDATE points_order SET item_count = 1 WHERE customer_id = %s", [a])
    damaged = awards(expected)
    said: list[str] = []
    with connect_other() as other:  # a long transaction holding a conflicting lock throughout
        other.execute("LOCK TABLE points_order IN ROW EXCLUSIVE MODE")

        with pytest.raises(LockNotAcquired):
            rebuild(replay_of(bus), lock_timeout=0.1, lock_attempts=2, say=said.append)

        other.rollback()
    assert len([line for line in said if "could not lock" in line]) == 2
    assert awards(expected) == damaged
    assert not table_exists(OLD_TABLES.order)


def index_names(table: str) -> list[str]:
    rows = execute("SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [table])
    return [name for (name,) in rows]


def test_the_swapped_in_tables_keep_the_index_and_constraint_names_migrations_know() -> None:
    before = {table: index_names(table) for table in LIVE_TABLES}
    assert "points_order_pkey" in before["points_order"]
    create_shadow_tables()

    with transaction.atomic():
        swap_tables(LIVE_TABLES, SHADOW_TABLES, OLD_TABLES)

    assert {table: index_names(table) for table in LIVE_TABLES} == before
    assert index_names("points_order_old") == sorted(f"{name}_old" for name in before["points_order"])
    constraints = execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'points_order'::regclass AND contype = 'p'"
    )
    assert constraints == [("points_order_pkey",)]


def test_prepared_and_waiting_statements_write_to_the_new_tables_after_the_swap() -> None:
    with connect_other(autocommit=True, prepare_threshold=0) as other:
        upsert = (
            "INSERT INTO points_order (order_id, customer_id, item_count, version, deleted)"
            " VALUES (%s, %s, %s, 1, false) ON CONFLICT (order_id) DO NOTHING"
        )
        customer_id = uuid.uuid4()
        for _ in range(3):
            other.execute(upsert, [uuid.uuid4(), customer_id, 1])
        prepared = other.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert prepared is not None and prepared[0] >= 1  # psycopg prepared it server-side
        # Django's own connection has written before the swap too
        order_states_apply_many([OrderStateRow(uuid.uuid4(), customer_id, 1, 1)])
        create_shadow_tables()
        waiting_id, after_id, django_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        writer = threading.Thread(target=lambda: other.execute(upsert, [waiting_id, customer_id, 1]))

        with transaction.atomic():
            _lock(LIVE_TABLES, "ACCESS EXCLUSIVE", 5.0)
            writer.start()  # its INSERT now waits for the lock, on the table it resolved

            def waiting() -> bool:
                with connect_other(autocommit=True) as probe:
                    row = probe.execute(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted"
                        " AND relation = 'points_order'::regclass AND database ="
                        " (SELECT oid FROM pg_database WHERE datname = current_database())"
                    ).fetchone()
                return bool(row and row[0])

            eventually(waiting, timeout=10)
            swap_tables(LIVE_TABLES, SHADOW_TABLES, OLD_TABLES)
        writer.join(timeout=10)
        other.execute(upsert, [after_id, customer_id, 1])
        order_states_apply_many([OrderStateRow(django_id, customer_id, 1, 1)])

    live = {row[0] for row in execute("SELECT order_id FROM points_order")}
    old = {row[0] for row in execute("SELECT order_id FROM points_order_old")}
    assert {waiting_id, after_id, django_id} <= live
    assert not {waiting_id, after_id, django_id} & old
    assert len(old) == 4
