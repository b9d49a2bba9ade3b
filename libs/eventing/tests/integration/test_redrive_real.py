"""Redrive and replay against real Kafka and the registry, through the management commands.

``eventing_dlt`` lists and redrives, ``eventing_offsets reset`` replays; the consumer is the
real runner (``build_runner``). Each test uses its own topic and group and deletes them.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from django.core.management import CommandError, call_command

from eventing import Event
from eventing.conf import eventing_settings
from eventing.consumer.kafka import build_runner
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.runner import ConsumerRunner
from eventing.events import EventType
from eventing.inbox.models import InboxEntry
from eventing.redrive.models import DeadLetterRedrive
from eventing.testing import eventually
from tests.integration.test_real_stack import CloudEventProducer, account_data, fresh_event_type
from tests.testapp.handlers import project_account
from tests.testapp.models import AccountProjection

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


class Pipeline:
    """One topic, one group, a consumer whose handler rejects owner 'poison' until fixed."""

    def __init__(self, live_schemas: Any) -> None:
        self.event_type: EventType = fresh_event_type()
        self.group = f"tests.redrive.{uuid.uuid4().hex[:8]}"
        self.dlt_topic = f"{self.group}.{self.event_type.topic}.dlt"
        self.producer = CloudEventProducer(self.event_type, live_schemas)
        self.registry = live_schemas
        self.broken = True
        self.runner: ConsumerRunner | None = None

    def handle(self, event: Event) -> None:
        if self.broken and event.data["owner"] == "poison":
            raise ValueError("owner 'poison' not allowed")
        project_account(event)

    def start(self) -> ConsumerRunner:
        handlers = HandlerRegistry()
        handlers.handler(self.event_type)(self.handle)
        self.runner = build_runner(self.group, handlers)
        self.runner.subscribe()
        return self.runner

    def run_until(self, condition: Callable[[], Any], timeout: float = 60.0) -> None:
        runner = self.runner
        assert runner is not None

        def step() -> Any:
            runner.run_once()
            return runner.held_count == 0 and condition()

        eventually(step, timeout=timeout, interval=0, what="the consumer")

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None

    def dlt(self, *args: str) -> str:
        out = io.StringIO()
        call_command("eventing_dlt", *args, "--group", self.group, stdout=out)
        return out.getvalue()

    def letters(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.dlt("list", "--json").splitlines()]

    def reset(self, *args: str) -> str:
        out = io.StringIO()
        call_command(
            "eventing_offsets",
            "reset",
            "--group",
            self.group,
            "--topic",
            self.event_type.topic,
            *args,
            stdout=out,
        )
        return out.getvalue()

    def cleanup(self) -> None:
        """Delete the topics, the group and the subject this test created."""
        self.stop()
        admin = AdminClient(eventing_settings.kafka_config())
        futures = [
            *admin.delete_topics([self.event_type.topic, self.dlt_topic], operation_timeout=30).values(),
            *admin.delete_consumer_groups([self.group], request_timeout=30).values(),
        ]
        for future in futures:
            with contextlib.suppress(KafkaException):  # e.g. a DLT never created
                future.result()
        registry = SchemaRegistryClient({"url": eventing_settings.SCHEMA_REGISTRY_URL})
        registry.delete_subject(f"{self.event_type.topic}-value")
        registry.delete_subject(f"{self.event_type.topic}-value", permanent=True)


@pytest.fixture
def pipeline(live_schemas) -> Iterator[Pipeline]:
    p = Pipeline(live_schemas)
    yield p
    p.cleanup()


def test_poison_then_fixed_event_is_redriven_and_applied_once_and_a_replay_adds_no_dead_letter(
    pipeline: Pipeline,
) -> None:
    # Given an undecodable message and an event the handler rejects, both dead-lettered
    account_id = uuid.uuid4()
    pipeline.producer.send(account_data(uuid.uuid4()), value=b"\x00\x00\x00\x00\x01not-avro")
    poison_id = pipeline.producer.send(account_data(account_id, owner="poison", balance=7))
    runner = pipeline.start()
    pipeline.run_until(lambda: runner.counters.dead_lettered == 2)
    by_reason = {
        x["reason"]: x for x in eventually(lambda: len(pipeline.letters()) == 2 and pipeline.letters())
    }
    assert by_reason["handler_failed"]["event_id"] == poison_id
    assert by_reason["handler_failed"]["data"]["owner"] == "poison"  # decoded through the registry
    assert by_reason["handler_failed"]["original"].startswith(pipeline.event_type.topic + "/")
    assert by_reason["undecodable"]["decode_error"]
    # When the handler is fixed and the rejected event is redriven (a dry run first)
    pipeline.broken = False
    assert "would redrive" in pipeline.dlt("redrive", "--id", poison_id, "--dry-run")
    assert DeadLetterRedrive.objects.count() == 0
    assert "Redrove 1 of 1" in pipeline.dlt("redrive", "--reason", "handler_failed")
    # Then the consumer applies it, once
    pipeline.run_until(lambda: AccountProjection.objects.filter(account_id=account_id).exists())
    assert AccountProjection.objects.get(account_id=account_id).balance == 7
    assert runner.counters.applied == 1
    assert InboxEntry.objects.get(consumer_group=pipeline.group, event_id=poison_id).status == "applied"
    assert DeadLetterRedrive.objects.get(event_id=poison_id).outcome == "applied"
    # When the group is stopped, reset to the beginning and the topic replayed
    pipeline.stop()
    assert "-> 0" in pipeline.reset("--to-earliest")
    replay = pipeline.start()
    pipeline.run_until(lambda: replay.counters.duplicates == 3)
    # Then nothing is applied again and the dead-letter topic still holds the two
    assert replay.counters.applied == 0 and replay.counters.dead_lettered == 0
    assert AccountProjection.objects.get(account_id=account_id).applications == 1
    assert len(pipeline.letters()) == 2


def test_loop_guard_refuses_a_redriven_event_that_failed_again_unless_forced(pipeline: Pipeline) -> None:
    # Given an event redriven once while its handler is still broken
    poison_id = pipeline.producer.send(account_data(uuid.uuid4(), owner="poison"))
    runner = pipeline.start()
    pipeline.run_until(lambda: runner.counters.dead_lettered == 1)
    eventually(lambda: pipeline.letters(), what="the dead letter")
    pipeline.dlt("redrive", "--all", "--max-redrives", "1")
    # When it fails again
    pipeline.run_until(lambda: runner.counters.dead_lettered == 2)
    eventually(lambda: len(pipeline.letters()) == 2, what="the second dead letter")
    assert DeadLetterRedrive.objects.get(event_id=poison_id).outcome == "failed"
    # Then redriving everything is refused by the guard...
    with pytest.raises(CommandError, match="Nothing was redriven"):
        pipeline.dlt("redrive", "--all", "--max-redrives", "1")
    statuses = sorted(x["status"] for x in pipeline.letters())
    assert statuses == ["pending", "redriven: failed"]  # pending under the default guard (3)
    assert [x["redrive_count"] for x in pipeline.letters()] == [0, 1]
    # ...and --force sends it, recorded as forced
    pipeline.broken = False
    assert "Redrove 1 of 2" in pipeline.dlt("redrive", "--all", "--max-redrives", "1", "--force")
    pipeline.run_until(lambda: runner.counters.applied == 1)
    forced = DeadLetterRedrive.objects.get(event_id=poison_id, redrive_count=2)
    assert forced.forced and forced.outcome == "applied"


def test_reset_is_refused_while_the_group_runs_and_moves_a_stopped_group_to_a_time(
    pipeline: Pipeline,
) -> None:
    # Given an event of an hour ago and two of now, all consumed
    _send_an_hour_ago(pipeline, account_data(uuid.uuid4()))
    when = datetime.now(UTC) - timedelta(minutes=30)
    pipeline.producer.send(account_data(uuid.uuid4()))
    pipeline.producer.send(account_data(uuid.uuid4()))
    runner = pipeline.start()
    pipeline.run_until(lambda: runner.counters.applied == 3)
    # When a reset is asked while the consumer is a member of the group: refused, naming it
    with pytest.raises(CommandError, match=r"has 1 active member\(s\).*Stop its consumers first"):
        pipeline.reset("--to-earliest")
    # When the consumer has stopped: the group moves to the first event at or after the time
    pipeline.stop()
    out = pipeline.reset("--to-datetime", when.isoformat())
    committed = _committed(pipeline)
    assert sum(committed.values()) == 1, out  # only the first event stays behind the offsets
    assert "Moved" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to-datetime", "yesterday"], "not an ISO 8601 time"),
        (["--to-datetime", "2026-01-01T00:00:00"], "has no time zone"),
    ],
)
def test_reset_rejects_a_bad_time_with_the_reason(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("eventing_offsets", "reset", "--group", "tests.none", *args)


def _send_an_hour_ago(pipeline: Pipeline, data: dict[str, Any]) -> None:
    """Produce an event whose Kafka timestamp is an hour old (as an old event would be)."""
    from eventing.serialization.avro import AvroCodec

    resolved = pipeline.producer.resolved
    pipeline.producer.producer.produce(
        pipeline.event_type.topic,
        key=str(data["id"]).encode(),
        value=AvroCodec.encode(resolved.schema_id, resolved.parsed, data),
        headers=[("ce_id", str(uuid.uuid4()).encode()), ("ce_type", b"account_state")],
        timestamp=int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1000),
    )
    pipeline.producer.producer.flush(10)


def _committed(pipeline: Pipeline) -> dict[tuple[str, int], int]:
    from eventing.offsets import committed_offsets

    return committed_offsets(AdminClient(eventing_settings.kafka_config()), pipeline.group)
