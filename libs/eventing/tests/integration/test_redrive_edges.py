"""Redrive's edges on the in-memory bus: a failed write leaves the dead letter pending, what a
copy carries, dead letters without an envelope or a source, statuses, and the selection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from eventing.redrive import (
    REDRIVE_COUNT_HEADER,
    REDRIVE_FROM_HEADER,
    REDRIVE_GROUP_HEADER,
    REDRIVE_ID_HEADER,
)
from eventing.redrive.dead_letters import (
    DeadLetter,
    RedriveError,
    Selection,
    dead_letter_topics,
    list_dead_letters,
    plan_redrive,
    redrive,
)
from eventing.redrive.models import DeadLetterRedrive, RedriveOutcome
from eventing.runtime import get_codec
from eventing.testing import InMemoryBroker, InMemoryProducer, _encoded
from tests.testapp.events import ACCOUNT_STATE

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "tests.edges"
TEMPLATE = "{group}.{topic}.dlt"
SOURCE = ACCOUNT_STATE.topic
DLT = f"{GROUP}.{SOURCE}.dlt"


def dead_letter(
    broker: InMemoryBroker,
    *,
    event_id: str | None = None,
    value: bytes | None = None,
    key: bytes | None = b"k-1",
    reason: str = "handler_failed",
    failed_at: str = "2026-12-03T10:00:00Z",
    original: tuple[str, int, int] | None = (SOURCE, 2, 41),
    extra: list[tuple[str, bytes | None]] = (),  # type: ignore[assignment]
) -> DeadLetter:
    """Put a dead letter on GROUP's dead-letter topic as the runner writes one."""
    headers: list[tuple[str, bytes | None]] = [
        ("ce_type", b"account_state"),
        ("content-type", b"application/avro"),
    ]
    if event_id is not None:
        headers.append(("ce_id", event_id.encode()))
    headers += [
        ("dlt.reason", reason.encode()),
        ("dlt.exception.type", b"ValueError"),
        ("dlt.exception.message", b"owner not allowed"),
        ("dlt.attempts", b"3"),
        ("dlt.failed_at", failed_at.encode()),
    ]
    if original is not None:
        topic, partition, offset = original
        headers += [
            ("dlt.original.topic", topic.encode()),
            ("dlt.original.partition", str(partition).encode()),
            ("dlt.original.offset", str(offset).encode()),
        ]
    headers += list(extra)
    if value is None:
        value = _encoded(ACCOUNT_STATE, state())
    message = broker.produce(DLT, value, key, headers, partition=0)
    return DeadLetter(DLT, message.partition(), message.offset(), key, value, headers)


def state(owner: str = "poison") -> dict[str, Any]:
    return {"id": uuid.uuid4(), "owner": owner, "balance": 1, "opened_at": datetime.now(UTC), "version": 1}


def letters(broker: InMemoryBroker, *, max_redrives: int = 3) -> list[DeadLetter]:
    return list_dead_letters(GROUP, broker, get_codec(), template=TEMPLATE, max_redrives=max_redrives)


# -- which topics are the group's dead-letter topics -------------------------------------------


def test_dead_letter_topics_are_found_by_the_template() -> None:
    topics = [
        f"{GROUP}.orders.dlt",
        f"{GROUP}.customers.dlt",
        "other.orders.dlt",
        "orders",
        f"{GROUP}.orders",
    ]
    assert dead_letter_topics(GROUP, topics, TEMPLATE) == [f"{GROUP}.customers.dlt", f"{GROUP}.orders.dlt"]
    assert dead_letter_topics(GROUP, ["dlt.tests.edges.orders", "orders"], "dlt.{group}.{topic}") == [
        "dlt.tests.edges.orders"
    ]


def test_a_template_without_the_topic_placeholder_is_refused() -> None:
    with pytest.raises(RedriveError, match=r"DEAD_LETTER_TOPIC '\{group\}.dlt' has no \{topic\} placeholder"):
        dead_letter_topics(GROUP, [], "{group}.dlt")


def test_the_group_name_is_matched_literally_not_as_a_pattern() -> None:
    assert dead_letter_topics("a.b", ["aXb.orders.dlt", "a.b.orders.dlt"], TEMPLATE) == ["a.b.orders.dlt"]


# -- listing ------------------------------------------------------------------------------------


def test_an_undecodable_dead_letter_is_listed_with_the_decode_error(
    fake_registry, broker: InMemoryBroker
) -> None:
    dead_letter(broker, event_id="e-1", value=b"\x00\x00\x00\x00\x01not-avro", reason="undecodable")
    (letter,) = letters(broker)
    assert letter.data is None
    assert letter.decode_error is not None and letter.decode_error.split(":")[0] in {
        "DecodeError",
        "SchemaNotRegistered",
    }
    assert letter.summary()["reason"] == "undecodable"


def test_a_dead_letter_without_an_envelope_is_named_by_its_source_position(
    fake_registry, broker: InMemoryBroker
) -> None:
    dead_letter(broker, event_id=None, key=b"\xff\xfe")
    (letter,) = letters(broker)
    assert letter.event_id == f"poison:{SOURCE}/2/41"
    summary = letter.summary()
    assert summary["key"] == "\ufffd\ufffd"  # not UTF-8: shown, not failed on
    assert summary["original"] == f"{SOURCE}/2/41"
    assert summary["exception"] == "ValueError: owner not allowed"
    assert summary["data"]["owner"] == "poison"
    assert plan_redrive([letter], Selection(ids=[f"poison:{SOURCE}/2/41"]))[0].redrives


def test_garbled_counters_count_as_absent(fake_registry, broker: InMemoryBroker) -> None:
    dead_letter(broker, event_id="e-1", extra=[(REDRIVE_COUNT_HEADER, b"many")])
    (letter,) = letters(broker)
    assert letter.redrive_count == 0 and letter.status == "pending"


def test_the_newest_dead_letter_of_an_event_is_the_one_to_redrive(
    fake_registry, broker: InMemoryBroker
) -> None:
    dead_letter(broker, event_id="e-1", failed_at="2026-12-03T10:00:00Z")
    dead_letter(
        broker, event_id="e-1", failed_at="2026-12-03T11:00:00Z", extra=[(REDRIVE_COUNT_HEADER, b"1")]
    )
    old, new = letters(broker)
    assert (old.status, old.latest, new.status, new.latest) == ("superseded", False, "pending", True)
    plan = plan_redrive([old, new], Selection(all=True), force=True)
    assert [p.action for p in plan] == ["skipped: a later dead letter of this event exists", "redrive"]


# -- planning ------------------------------------------------------------------------------------


def test_a_dead_letter_without_its_source_topic_is_refused(fake_registry, broker: InMemoryBroker) -> None:
    dead_letter(broker, event_id="e-1", original=None)
    (item,) = plan_redrive(letters(broker), Selection(all=True))
    assert item.action == "refused: no dlt.original.topic header"
    assert redrive(GROUP, [item], InMemoryProducer(broker)) == []
    assert broker.messages(SOURCE) == []


def test_selection_by_reason_and_by_position(fake_registry, broker: InMemoryBroker) -> None:
    dead_letter(broker, event_id="e-1", reason="handler_failed")
    dead_letter(broker, event_id="e-2", reason="undecodable")
    listed = letters(broker)
    assert [p.letter.event_id for p in plan_redrive(listed, Selection(reason="undecodable"))] == ["e-2"]
    assert [p.letter.event_id for p in plan_redrive(listed, Selection(ids=["0:0"]))] == ["e-1"]
    assert [p.letter.event_id for p in plan_redrive(listed, Selection(ids=[f"{DLT}:0:1"]))] == ["e-2"]
    # an id and a reason must both match: an id of another reason is not found
    with pytest.raises(RedriveError, match=r"No dead letter with id or position e-1$"):
        plan_redrive(listed, Selection(ids=["e-1", "e-2"], reason="undecodable"))
    with pytest.raises(RedriveError, match="No dead letter with id or position e-3, 9:9"):
        plan_redrive(listed, Selection(ids=["e-1", "e-3", "9:9"]))


def test_an_already_redriven_dead_letter_is_sent_again_only_when_forced(
    fake_registry, broker: InMemoryBroker
) -> None:
    dead_letter(broker, event_id="e-1")
    (record,) = redrive(GROUP, plan_redrive(letters(broker), Selection(all=True)), InMemoryProducer(broker))
    record.outcome = RedriveOutcome.APPLIED
    record.save()
    (item,) = plan_redrive(letters(broker), Selection(all=True))
    assert item.action == "skipped: already redriven: applied (--force to send it again)"
    (forced,) = plan_redrive(letters(broker), Selection(all=True), force=True)
    assert forced.redrives
    (again,) = redrive(GROUP, [forced], InMemoryProducer(broker), force=True, redriven_by="ops")
    assert (again.forced, again.redrive_count, again.redriven_by) == (True, 1, "ops")


# -- the redriven copy --------------------------------------------------------------------------


def test_the_copy_goes_to_the_source_partition_with_the_events_headers_and_the_redrive_headers(
    fake_registry, broker: InMemoryBroker
) -> None:
    sent = dead_letter(
        broker,
        event_id="e-1",
        extra=[(REDRIVE_COUNT_HEADER, b"1"), (REDRIVE_ID_HEADER, b"old"), ("traceparent", b"00-ab-cd-01")],
    )
    (record,) = redrive(GROUP, plan_redrive(letters(broker), Selection(all=True)), InMemoryProducer(broker))
    (copy,) = broker.messages(SOURCE)
    assert copy.partition() == 2  # where the event was read: the key's partition
    assert (copy.key(), copy.value()) == (sent.key, sent.value)
    headers = copy.headers()
    assert not [k for k, _ in headers if k.startswith("dlt.")]
    assert dict(headers) == {
        "ce_type": b"account_state",
        "content-type": b"application/avro",
        "ce_id": b"e-1",
        "traceparent": b"00-ab-cd-01",
        REDRIVE_ID_HEADER: str(record.id).encode(),
        REDRIVE_GROUP_HEADER: GROUP.encode(),
        REDRIVE_COUNT_HEADER: b"2",
        REDRIVE_FROM_HEADER: f"{DLT}/0:0".encode(),
    }
    assert len(headers) == len(dict(headers))  # the old redrive headers replaced, not repeated
    assert (record.source_topic, record.reason, record.exception) == (
        SOURCE,
        "handler_failed",
        "ValueError: owner not allowed",
    )


def test_a_copy_of_an_unknown_partition_is_left_to_the_partitioner(
    fake_registry, broker: InMemoryBroker
) -> None:
    dead_letter(broker, event_id="e-1", key=b"k-1", original=(SOURCE, -1, -1))
    redrive(GROUP, plan_redrive(letters(broker), Selection(all=True)), InMemoryProducer(broker))
    (copy,) = broker.messages(SOURCE)
    assert copy.partition() == InMemoryBroker(partitions=3).produce("t", b"", b"k-1").partition()


def test_a_write_kafka_refuses_leaves_the_dead_letter_pending_and_no_record(
    fake_registry, broker: InMemoryBroker
) -> None:
    dead_letter(broker, event_id="e-1")
    dead_letter(broker, event_id="e-2")
    producer = InMemoryProducer(broker)
    producer.fail = True
    with pytest.raises(RedriveError) as raised:
        redrive(GROUP, plan_redrive(letters(broker), Selection(all=True)), producer)
    assert f"Could not write to {SOURCE}: ['broker unavailable']" in str(raised.value)
    assert raised.value.context == {"event_id": "e-1"}
    assert not DeadLetterRedrive.objects.exists()
    assert [x.status for x in letters(broker)] == ["pending", "pending"]
    # and once Kafka is back, the redrive goes through
    producer.fail = False
    assert len(redrive(GROUP, plan_redrive(letters(broker), Selection(all=True)), producer)) == 2
    assert [x.status for x in letters(broker)] == ["redriven: pending", "redriven: pending"]


def test_a_flush_that_times_out_is_a_failed_write(fake_registry, broker: InMemoryBroker) -> None:
    dead_letter(broker, event_id="e-1")

    class Stuck(InMemoryProducer):
        def flush(self, timeout: float = -1) -> int:
            return 1  # one message still in the queue

    with pytest.raises(RedriveError, match="flush timed out"):
        redrive(GROUP, plan_redrive(letters(broker), Selection(all=True)), Stuck(broker), timeout=0.01)
    assert not DeadLetterRedrive.objects.exists()
