"""The library against the real stack: PostgreSQL, Kafka, Apicurio Registry, Debezium.

Requires the stack (`make up`); `make test` starts it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.db import connection, transaction

from eventing import Event, Outgoing, publish, publish_many
from eventing.conf import eventing_settings
from eventing.consumer.kafka import build_runner, runner_config
from eventing.consumer.middleware import ConsumerMiddleware, MiddlewareChain
from eventing.consumer.processing import Outcome
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff
from eventing.consumer.runner import ConsumerRunner
from eventing.events import EventType
from eventing.exceptions import IncompatibleSchema
from eventing.inbox.models import InboxEntry
from eventing.schemas import register
from eventing.serialization.avro import AvroCodec
from eventing.serialization.registry import ConfluentSchemaRegistry
from eventing.testing import eventually
from tests.integration.conftest import read_until
from tests.settings import SESSION, scratch_topic
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.handlers import project_account
from tests.testapp.models import AccountProjection
from tests.testapp.services import account_open, account_state

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HERE = Path(__file__).resolve().parent.parent


def header_dict(message: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in (message.headers() or []) if v is not None}


# -- producing: outbox -> Debezium -> Kafka -------------------------------------------------


def test_outbox_row_becomes_a_cloudevent_on_the_topic(outbox_capture, live_schemas, kafka_reader) -> None:
    # Given the outbox connector is RUNNING on this database
    reader = kafka_reader(ACCOUNT_STATE.topic)
    # When an account is opened (one transaction: row + outbox row)
    account = account_open(owner="Bart", balance=42)
    # Then its event arrives keyed by the account id...
    (message,) = [
        m
        for m in read_until(reader, lambda ms: any(m.key() == str(account.id).encode() for m in ms))
        if m.key() == str(account.id).encode()
    ]
    headers = header_dict(message)
    # ...with CloudEvents binary-mode headers
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "account_state"
    assert headers["ce_source"] == "/eventing-tests"
    uuid.UUID(headers["ce_id"])
    datetime.strptime(headers["ce_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert headers["content-type"] == "application/avro"
    assert headers["ce_partitionkey"] == str(account.id)
    # ...and a value that confluent-kafka's own deserializer decodes through the registry
    client = SchemaRegistryClient({"url": eventing_settings.SCHEMA_REGISTRY_URL})
    value = AvroDeserializer(client)(
        message.value(), SerializationContext(message.topic(), MessageField.VALUE)
    )
    assert value["owner"] == "Bart" and value["balance"] == 42 and value["id"] == account.id


def test_rolled_back_transaction_publishes_nothing(outbox_capture, live_schemas, kafka_reader) -> None:
    reader = kafka_reader(ACCOUNT_STATE.topic)
    ghost_key = str(uuid.uuid4())

    # Given a transaction that publishes with key K and then rolls back
    def publish_then_fail() -> None:
        with transaction.atomic():
            account = account_open(owner="ghost")
            publish(ACCOUNT_STATE, account_state(account), key=ghost_key)
            raise RuntimeError("rollback")

    with pytest.raises(RuntimeError):
        publish_then_fail()
    # When a later committed event uses the same key (so the same partition, after it)
    with transaction.atomic():
        sentinel = account_open(owner="sentinel")
        publish(ACCOUNT_STATE, account_state(sentinel), key=ghost_key)
    messages = read_until(
        reader, lambda ms: any(header_dict(m).get("ce_partitionkey") == ghost_key for m in ms)
    )
    # Then only the committed event exists for that key
    keyed = [m for m in messages if m.key() == ghost_key.encode()]
    assert len(keyed) == 1
    assert AvroCodec(live_schemas).decode(keyed[0].value())["owner"] == "sentinel"


# -- schema gate ---------------------------------------------------------------------------


def test_incompatible_schema_change_is_rejected_with_the_field_named(tmp_path, real_registry) -> None:
    topic = scratch_topic("compat")
    v1 = {"type": "record", "name": "Probe", "fields": [{"name": "id", "type": "string"}]}
    (tmp_path / "v1.avsc").write_text(json.dumps(v1))
    v2 = {**v1, "fields": [*v1["fields"], {"name": "email", "type": "string"}]}
    (tmp_path / "v2.avsc").write_text(json.dumps(v2))
    v3 = {**v1, "fields": [*v1["fields"], {"name": "email", "type": "string", "default": ""}]}
    (tmp_path / "v3.avsc").write_text(json.dumps(v3))
    try:
        # Given v1 registered under BACKWARD compatibility
        register(
            [EventType("probe", topic, str(tmp_path / "v1.avsc"))],
            registry=real_registry,
            compatibility="BACKWARD",
        )
        # When v2 adds a field without a default
        with pytest.raises(IncompatibleSchema) as refused:
            register(
                [EventType("probe", topic, str(tmp_path / "v2.avsc"))],
                registry=real_registry,
                compatibility="BACKWARD",
            )
        # Then it is refused, naming the field and what broke
        assert any("'email'" in m and "BACKWARD" in m for m in refused.value.messages)
        # And a compatible change (with a default) is accepted as a new version
        (accepted,) = register(
            [EventType("probe", topic, str(tmp_path / "v3.avsc"))],
            registry=real_registry,
            compatibility="BACKWARD",
        )
        assert accepted.schema_id > 0
    finally:
        SchemaRegistryClient({"url": eventing_settings.SCHEMA_REGISTRY_URL}).delete_subject(f"{topic}-value")


# -- consuming from real Kafka -----------------------------------------------------------------


def fresh_event_type() -> EventType:
    """The account contract on a topic of its own (this test's topic)."""
    return EventType(
        "account_state",
        scratch_topic("consume"),
        ACCOUNT_STATE.schema,
        owned=False,
    )


def account_data(account_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    return {
        "id": account_id,
        "owner": "o",
        "balance": 0,
        "opened_at": datetime.now(UTC),
        "version": 1,
        **overrides,
    }


class CloudEventProducer:
    """Produces CloudEvents to real Kafka as the outbox connector would."""

    def __init__(self, event_type: EventType, registry: ConfluentSchemaRegistry) -> None:
        self.event_type = event_type
        (self.resolved,) = register([event_type], registry=registry)
        self.producer = Producer(eventing_settings.kafka_config())

    def send(self, data: dict[str, Any], *, event_id: str | None = None, value: bytes | None = None) -> str:
        event_id = event_id or str(uuid.uuid4())
        self.producer.produce(
            self.event_type.topic,
            key=str(data["id"]).encode(),
            value=value
            if value is not None
            else AvroCodec.encode(self.resolved.schema_id, self.resolved.parsed, data),
            headers=[
                ("ce_id", event_id.encode()),
                ("ce_type", b"account_state"),
                ("ce_specversion", b"1.0"),
                ("ce_source", b"/tests"),
                ("content-type", b"application/avro"),
            ],
        )
        self.producer.flush(10)
        return event_id


def runner_for(event_type: EventType, handle: Callable[[Event], None]) -> ConsumerRunner:
    handlers = HandlerRegistry()
    handlers.handler(event_type)(handle)
    runner = build_runner(f"tests.{event_type.topic}", handlers)
    runner.subscribe()
    return runner


def run_until(runner: ConsumerRunner, condition: Callable[[], Any], *, timeout: float = 60.0) -> None:
    def step() -> Any:
        runner.run_once()
        return condition()

    try:
        eventually(step, timeout=timeout, interval=0)
    finally:
        runner.run_once()


@pytest.mark.slow
@pytest.mark.timeout(720)
def test_sigterm_mid_stream_loses_nothing_and_applies_nothing_twice(live_schemas) -> None:
    # Given many events on a topic of this test (the consumer processes read it as the test
    # app's ACCOUNT_STATE topic: EVENTING_TESTS_TOPIC), behind nothing any other test wrote
    topic = scratch_topic("sigterm")
    producer = CloudEventProducer(EventType("account_state", topic, ACCOUNT_STATE.schema), live_schemas)
    total = 20_000
    ids = [uuid.uuid4() for _ in range(total)]
    event_ids = [str(uuid.uuid4()) for _ in range(total)]
    for account_id, event_id in zip(ids, event_ids, strict=True):
        producer.producer.produce(
            topic,
            key=str(account_id).encode(),
            value=AvroCodec.encode(
                producer.resolved.schema_id, producer.resolved.parsed, account_data(account_id)
            ),
            headers=[("ce_id", event_id.encode()), ("ce_type", b"account_state")],
        )
        producer.producer.poll(0)
    producer.producer.flush(30)
    group = f"tests.sigterm.{SESSION}.{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "EVENTING_TEST_DATABASE_URL": _test_database_url(),
        "EVENTING_TEST_BATCH_SIZE": "20",  # many small transactions: SIGTERM lands mid-stream
        "EVENTING_TESTS_TOPIC": topic,
        "PYTHONPATH": str(HERE.parent),
    }
    command = [
        *(sys.executable, "-m", "django", "eventing_consume", "--settings", "tests.settings"),
        *("--group", group, "--topic", topic),
    ]
    members: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        member = subprocess.Popen(command, env=env, cwd=HERE.parent, stderr=subprocess.PIPE)
        members.append(member)
        return member

    mine = AccountProjection.objects.filter(account_id__in=ids)
    try:
        # When a consumer is stopped with SIGTERM while it is working through them
        first = start()

        def started() -> bool:
            if first.poll() is not None:  # it died: say why
                raise AssertionError(
                    f"the consumer exited {first.returncode}: {first.stderr.read()[-3000:]!r}"
                )  # type: ignore[union-attr]
            return mine.count() > 0

        eventually(started, timeout=180, what="the consumer to start applying")
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 0, stderr.decode()[-2000:]
        applied_before_restart = mine.count()
        # ...and a new one takes over
        second = start()
        # 20 events a transaction: ~200/s on a loaded 2-core machine, ~1,000/s on a quiet one
        eventually(lambda: mine.count() == total, timeout=360, what="all events applied")
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
    finally:
        # a member left running would go on writing into this database during later tests
        for member in members:
            if member.poll() is None:
                member.kill()
                member.wait(timeout=30)
    # Then every event was applied exactly once
    assert 0 < applied_before_restart < total
    assert not mine.filter(applications__gt=1).exists()
    assert InboxEntry.objects.filter(consumer_group=group, event_id__in=event_ids).count() == total


def _test_database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def test_consumer_status_row_reports_progress_and_lag(live_schemas) -> None:
    from eventing.consumer.kafka import StatusReporter
    from eventing.inbox.models import ConsumerStatus

    event_type = fresh_event_type()
    producer = CloudEventProducer(event_type, live_schemas)
    for _ in range(5):
        producer.send(account_data(uuid.uuid4()))
    runner = runner_for(event_type, project_account)
    reporter = StatusReporter()
    try:
        # Given five events applied
        run_until(runner, lambda: runner.counters.applied == 5)
        eventually(lambda: reporter.lag(runner) == 0, timeout=30, what="lag 0 once all are applied")
        reporter(runner)
        status = ConsumerStatus.objects.get(member=runner.member)
        assert status.applied == 5
        assert status.lag == 0
        # When three more arrive and are fetched but not applied
        for _ in range(3):
            producer.send(account_data(uuid.uuid4()))
        fetched: list[Any] = []

        def fetched_but_not_applied() -> int | None:
            fetched.extend(runner.consumer.consume(10, 0.2))  # behind the runner's back
            return reporter.lag(runner) if len(fetched) == 3 else None

        # Then the lag counts them: it is measured from what was applied, not fetched
        assert eventually(fetched_but_not_applied, timeout=30, what="lag of the unapplied") == 3
    finally:
        runner.close()
    assert reporter.lag(runner) is None  # closed


# -- a batch handler through real Kafka, Debezium and the outbox ----------------------------


class OutcomeRecorder(ConsumerMiddleware):
    """What the metrics middleware is told: one outcome per event, each dead letter."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, Outcome]] = []
        self.dead_letters: list[str] = []

    def on_outcome(self, runner: ConsumerRunner, event: Event, outcome: Outcome) -> None:
        self.outcomes.append((event.id, outcome))

    def on_dead_letter(self, runner: ConsumerRunner, topic: str, event_type: str | None, reason: str) -> None:
        self.dead_letters.append(reason)


def test_batch_handler_republishes_a_batch_and_dead_letters_only_its_poison(
    outbox_capture, live_schemas, kafka_reader
) -> None:
    # Given 30 events on a topic, one of which its batch handler cannot take
    source = fresh_event_type()
    producer = CloudEventProducer(source, live_schemas)
    target = EventType("account_state", scratch_topic("republished"), ACCOUNT_STATE.schema)
    owners = [f"owner-{i}" for i in range(30)]
    owners[17] = "poison"
    sent = [producer.send(account_data(uuid.uuid4(), owner=owner)) for owner in owners]
    poison_id = sent[17]
    # and a translator-like batch handler republishing each batch with one outbox statement
    calls: list[int] = []

    def republish(events: list[Event]) -> None:
        calls.append(len(events))
        if any(e.data["owner"] == "poison" for e in events):
            raise ValueError("poison in the batch")
        publish_many(
            [Outgoing(target, e.data, event_id=uuid.uuid5(uuid.NAMESPACE_URL, e.id)) for e in events]
        )

    register([target], registry=live_schemas)  # after the source's: publishing resolves the target
    handlers = HandlerRegistry()
    handlers.handler(source, batch=True)(republish)
    config = replace(runner_config(), max_attempts=2, backoff=Backoff(initial=0.05, maximum=0.1))
    runner = build_runner(f"tests.{source.topic}", handlers, config=config)
    recorder = OutcomeRecorder()
    runner.middleware = MiddlewareChain([recorder])
    runner.subscribe()
    try:
        run_until(runner, lambda: runner.counters.applied == 29 and runner.counters.dead_lettered == 1)
    finally:
        runner.close()
    # Then the 29 others were republished, once each, through Debezium
    expected = {str(uuid.uuid5(uuid.NAMESPACE_URL, i)) for i in sent if i != poison_id}
    republished = read_until(kafka_reader(target.topic), lambda ms: len(ms) >= 29)
    assert sorted(header_dict(m)["ce_id"] for m in republished) == sorted(expected)
    # the poison alone is in the dead-letter topic, as a handler failure
    (dead,) = read_until(kafka_reader(f"tests.{source.topic}.{source.topic}.dlt"), lambda ms: len(ms) >= 1)
    assert header_dict(dead)["ce_id"] == poison_id
    assert header_dict(dead)["dlt.reason"] == "handler_failed"
    # the batch path ran (several events in one call), and the middleware saw each outcome
    assert max(calls) > 1
    assert sorted(i for i, _ in recorder.outcomes) == sorted(i for i in sent if i != poison_id)
    assert {o for _, o in recorder.outcomes} == {Outcome.APPLIED}
    assert recorder.dead_letters == ["handler_failed"]
