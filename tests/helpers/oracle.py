"""Oracles of the fault tests that do not rely on the awards alone.

The points read model is a version-guarded upsert: applying an event twice, or replaying a
whole topic with no inbox, leaves every award unchanged. An award check therefore cannot see
a consumer that applies events twice. These oracles count what the consumers did, from the
databases and the broker:

* ``applied``: inbox rows with status ``applied`` per consumer group. The inbox has one row
  per event id (its primary key), so after a fault the number of new rows must equal the
  number of events the test caused: fewer means an event was lost (or never applied).
* ``handled``: the consumers' own counters (``eventing_consumer_status``: applied, duplicates,
  skipped, dead-lettered, per running process, flushed every few seconds). ``applied`` counts
  handler runs; a redelivered event the inbox caught counts as a duplicate. A consumer with no
  inbox counts a redelivery as applied again: that is what exposes it.
* ``dead_letters``: messages on the dead-letter topics of both groups, and inbox rows with
  status ``dead_lettered``. An outage is not a poison event: a fault must dead-letter nothing.

The fault tier runs alone on its stack, so deltas between two snapshots are the test's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from stack.settings import Settings

#: Consumer group -> the database holding its inbox and status rows.
GROUP_DATABASES = {"points.read-model": "points", "orders.translator": "orders"}
PUBLIC_TOPICS = ["public_customer_entity_events", "public_order_entity_events"]
CDC_TOPICS = ["private_orders_order_cdc"]
DEAD_LETTER_TOPICS = [
    "points.read-model.public_customer_entity_events.dlt",
    "points.read-model.public_order_entity_events.dlt",
    "orders.translator.private_orders_order_cdc.dlt",
]


@dataclass(frozen=True)
class Handled:
    """Sums of the consumer status counters of some processes of one group."""

    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_lettered: int = 0

    @property
    def seen(self) -> int:
        return self.applied + self.duplicates + self.skipped + self.dead_lettered


@dataclass(frozen=True)
class Snapshot:
    applied: dict[str, int]
    inbox_dead_lettered: dict[str, int]
    dead_letters: int
    taken_at: datetime = field(compare=False)


def _query(stack: Settings, database: str, sql: str, params: Iterable[Any] = ()) -> Any:
    with psycopg.connect(stack.postgres.url(database)) as conn:
        return conn.execute(sql, tuple(params)).fetchone()


def topic_messages(stack: Settings, topics: Iterable[str]) -> int:
    """Messages currently held by ``topics`` (end minus start offsets; 0 for a missing topic)."""
    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap_servers, "group.id": "faults-oracle"})
    try:
        metadata = consumer.list_topics(timeout=10).topics
        total = 0
        for topic in topics:
            if topic not in metadata:
                continue
            for partition in metadata[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                total += high - low
        return total
    finally:
        consumer.close()


def dead_letters(stack: Settings) -> int:
    """Messages in the dead-letter topics of both consumer groups."""
    return topic_messages(stack, DEAD_LETTER_TOPICS)


def snapshot(stack: Settings) -> Snapshot:
    applied: dict[str, int] = {}
    inbox_dead: dict[str, int] = {}
    now = None
    for group, database in GROUP_DATABASES.items():
        row = _query(
            stack,
            database,
            "SELECT count(*) FILTER (WHERE status = 'applied'),"
            " count(*) FILTER (WHERE status = 'dead_lettered'), now()"
            " FROM eventing_inbox WHERE consumer_group = %s",
            [group],
        )
        applied[group], inbox_dead[group], now = int(row[0]), int(row[1]), row[2]
    assert now is not None
    return Snapshot(applied, inbox_dead, dead_letters(stack), taken_at=now)


def handled_since(stack: Settings, group: str, started_after: datetime) -> Handled:
    """Counters of the processes of ``group`` that started after ``started_after``."""
    row = _query(
        stack,
        GROUP_DATABASES[group],
        "SELECT coalesce(sum(applied), 0), coalesce(sum(duplicates), 0), coalesce(sum(skipped), 0),"
        " coalesce(sum(dead_lettered), 0) FROM eventing_consumer_status"
        " WHERE consumer_group = %s AND started_at > %s",
        [group, started_after],
    )
    return Handled(*(int(v) for v in row))


@dataclass
class Audit:
    """Counts what the pipeline did between ``begin`` and the checks.

    ``events(points=..., translator=...)`` states how many events the test caused per group;
    the checks then require exactly that many new inbox rows, and no dead letter at all.
    """

    stack: Settings
    before: Snapshot = field(init=False)

    def __post_init__(self) -> None:
        self.before = snapshot(self.stack)

    def assert_applied_exactly_once(self, expected: dict[str, int]) -> None:
        """Each group recorded exactly ``expected[group]`` new events, and nothing was dead-lettered."""
        after = snapshot(self.stack)
        applied = {group: after.applied[group] - self.before.applied[group] for group in expected}
        assert applied == expected, f"new inbox rows per group {applied}, expected {expected}"
        self.assert_nothing_dead_lettered(after)

    def assert_nothing_dead_lettered(self, after: Snapshot | None = None) -> None:
        after = after or snapshot(self.stack)
        assert after.dead_letters == self.before.dead_letters, (
            f"{after.dead_letters - self.before.dead_letters} new messages on the dead-letter topics"
        )
        assert after.inbox_dead_lettered == self.before.inbox_dead_lettered, (
            f"inbox rows dead-lettered: before {self.before.inbox_dead_lettered}, "
            f"after {after.inbox_dead_lettered}"
        )


def events_caused(customers_created: int, orders_created: int) -> dict[str, int]:
    """Events each group must apply for some customers and orders created over HTTP.

    One ``CustomerCreated`` per customer (customers' outbox); one row change per order
    (orders' table capture -> the translator) and one ``OrderCreated`` per order.
    """
    return {
        "points.read-model": customers_created + orders_created,
        "orders.translator": orders_created,
    }
