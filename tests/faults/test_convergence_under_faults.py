"""Faults: components stopped, killed or replayed; every award must still come out exact.

Each test creates its own customers, so the expected awards are known exactly. Awards alone
cannot show a double application (the read model is a version-guarded upsert), so each test
also counts, through ``tests.helpers.oracle``, the events each consumer group recorded (exactly
the number the test caused), the dead letters (none) and, for a replay, the consumer's own
counters (every redelivery a duplicate, none applied again). One test shows that these checks
catch a consumer without an inbox even though every award stays exact.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import psycopg
import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from stack import api
from stack.settings import Settings
from stack.testing import eventually
from tests.helpers import oracle
from tests.helpers.api import Customers, Orders, Points

pytestmark = [pytest.mark.faults, pytest.mark.slow]

PUBLIC_TOPICS = oracle.PUBLIC_TOPICS
POINTS_GROUP = "points.read-model"


def order_count(n: int) -> int:
    """Orders ``create_customers_with_orders(n)`` creates."""
    return sum(1 + i % 3 for i in range(n))


def events_of(*batches: int) -> dict[str, int]:
    """Events each group applies for batches of ``create_customers_with_orders``."""
    return oracle.events_caused(sum(batches), sum(order_count(n) for n in batches))


def create_customers_with_orders(customers: Customers, orders: Orders, n: int, tag: str) -> dict[str, float]:
    """n customers with 1-3 orders each; returns the expected award per customer id."""
    expected: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(lambda i: customers.create(f"{tag}{i}", "faults")["id"], range(n)))
        jobs = [(cid, 5 + (i * 11 + j) % 40) for i, cid in enumerate(ids) for j in range(1 + i % 3)]
        list(pool.map(lambda job: orders.create(*job), jobs))
    for cid, count in jobs:
        expected[cid] = expected.get(cid, 0) + count
    return {cid: total / 42 for cid, total in expected.items()}


def assert_awards(points: Points, expected: dict[str, float], timeout: float = 180.0) -> None:
    def check() -> None:
        wrong = {
            cid: (points.award(cid), want) for cid, want in expected.items() if points.award(cid) != want
        }
        assert not wrong, f"{len(wrong)} of {len(expected)} awards wrong, e.g. {list(wrong.items())[:3]}"

    eventually(check, timeout=timeout, interval=1.0)


def group_lag(settings: Settings, group: str, topics: list[str]) -> int:
    """Messages the group has not committed yet, over all partitions of ``topics``."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": group})
    try:
        lag = 0
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
            partitions = [TopicPartition(topic, p) for p in metadata.partitions]
            for tp in consumer.committed(partitions, timeout=10):
                _, high = consumer.get_watermark_offsets(tp, timeout=10)
                lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def test_stack_stopped_and_started_again_keeps_every_award(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    audit = oracle.Audit(stack)
    # Given converged awards
    expected = create_customers_with_orders(customers, orders, 20, "restart")
    assert_awards(points, expected)
    # When the whole stack (servers and services) is stopped and started again
    api.down()
    api.up()
    # Then the awards are unchanged, each event was recorded once, nothing was dead-lettered
    assert_awards(points, expected, timeout=60)
    audit.assert_applied_exactly_once(events_of(20))


def replay_public_topics(stack: Settings) -> tuple[int, datetime]:
    """Rewind the points group to the start of both public topics while its consumer is stopped.

    Returns how many messages will be redelivered, and the database time before the consumer
    starts again (its status row counts only what the restarted process handled).
    """
    with api.stopped("points-consumer"):
        admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
        partitions = []
        for topic in PUBLIC_TOPICS:
            metadata = admin.list_topics(topic, timeout=10).topics[topic]
            partitions += [TopicPartition(topic, p, 0) for p in metadata.partitions]
        eventually(
            lambda: admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(POINTS_GROUP, partitions)]
            )[POINTS_GROUP].result(timeout=30),
            timeout=60,
        )
        redelivered = oracle.topic_messages(stack, PUBLIC_TOPICS)
        restarted_after = oracle.snapshot(stack).taken_at

    def caught_up() -> oracle.Handled:
        assert group_lag(stack, POINTS_GROUP, PUBLIC_TOPICS) == 0
        handled = oracle.handled_since(stack, POINTS_GROUP, restarted_after)
        assert handled.seen >= redelivered, f"the restarted consumer reported {handled}, of {redelivered}"
        return handled

    eventually(caught_up, timeout=180, interval=1.0)
    return redelivered, restarted_after


def assert_replay_applied_nothing(stack: Settings, redelivered: int, restarted_after: datetime) -> None:
    """Every redelivered event was recognised as a duplicate (or skipped), none applied again."""
    handled = oracle.handled_since(stack, POINTS_GROUP, restarted_after)
    assert handled.seen == redelivered, f"{handled} for {redelivered} redelivered messages"
    assert handled.applied == 0, f"{handled.applied} of {redelivered} redelivered events applied again"
    assert handled.dead_lettered == 0, handled
    assert handled.duplicates > 0, handled


def test_full_replay_of_the_public_topics_changes_no_award(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    # Given converged awards
    audit = oracle.Audit(stack)
    expected = create_customers_with_orders(customers, orders, 20, "replay")
    assert_awards(points, expected)
    audit.assert_applied_exactly_once(events_of(20))
    # When the points consumer re-reads both topics from the very beginning (every event redelivered)
    redelivered, restarted_after = replay_public_topics(stack)
    # Then no award changed, and the inbox recognised every redelivery: none was applied again
    assert_awards(points, expected, timeout=10)
    assert_replay_applied_nothing(stack, redelivered, restarted_after)
    audit.assert_applied_exactly_once(events_of(20))


def test_the_replay_oracle_detects_a_consumer_without_an_inbox(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    """The naive variant: the points inbox is emptied before a replay, as if it had none.

    Every award still comes out exact (the version-guarded upserts hide the double
    application); the replay oracle must not.
    """
    expected = create_customers_with_orders(customers, orders, 5, "naive")
    assert_awards(points, expected)
    with psycopg.connect(stack.postgres.url("points")) as conn:
        forgotten = conn.execute("DELETE FROM eventing_inbox WHERE consumer_group = %s", [POINTS_GROUP])
        assert forgotten.rowcount > 0
    redelivered, restarted_after = replay_public_topics(stack)
    assert_awards(points, expected, timeout=10)
    with pytest.raises(AssertionError, match="applied again"):
        assert_replay_applied_nothing(stack, redelivered, restarted_after)
    # (the replay recorded every event in the inbox again: the stack is as before)


def test_consumer_killed_mid_stream_converges_without_double_counting(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    audit = oracle.Audit(stack)
    # Given a stream of new orders being applied
    (consumer,) = [s for s in api.status(["points-consumer"]) if s.pid]
    before = _read_model_orders(stack)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(create_customers_with_orders, customers, orders, 30, "kill")

        def some_new_orders_applied() -> None:
            assert _read_model_orders(stack) > before

        eventually(some_new_orders_applied, timeout=120)
        # When the consumer is killed without warning (no graceful shutdown) while they flow
        os.kill(consumer.pid, signal.SIGKILL)
        expected = future.result(timeout=300)
    api.up(["points-consumer"])
    # Then every award converges exactly, each event recorded once, nothing dead-lettered
    assert_awards(points, expected)
    audit.assert_applied_exactly_once(events_of(30))


def _read_model_orders(stack: Settings) -> int:
    with psycopg.connect(stack.postgres.url("points")) as conn:
        (count,) = conn.execute("SELECT count(*) FROM points_order").fetchone()  # type: ignore[misc]
    return int(count)


def test_writes_are_accepted_while_kafka_is_down_and_delivered_after(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    audit = oracle.Audit(stack)
    # Given Kafka is down
    with api.stopped("kafka"):
        # When customers and orders are created (the outbox and CDC only need Postgres)
        customer = customers.create("Offline", "Kafka")
        orders.create(customer["id"], 21)
        orders.create(customer["id"], 21)
    # Then once Kafka is back, the events flow and the award is exact
    assert_awards(points, {customer["id"]: 1.0}, timeout=240)
    audit.assert_applied_exactly_once(oracle.events_caused(1, 2))


def test_connect_restart_mid_traffic_loses_nothing(
    stack: Settings, customers: Customers, orders: Orders, points: Points
) -> None:
    audit = oracle.Audit(stack)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(create_customers_with_orders, customers, orders, 20, "connect")
        api.restart("connect")
        expected = future.result(timeout=300)
    assert_awards(points, expected, timeout=240)
    audit.assert_applied_exactly_once(events_of(20))
