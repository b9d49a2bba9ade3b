"""The contract suites of ``eventing.testing.contracts``, on the in-memory bus and on real Kafka.

Each ``Test...`` class below inherits every scenario of its contract; only the harness
differs. The same scenarios failing on one side only is a divergence between the fake and
the real thing.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from eventing import Event
from eventing.conf import eventing_settings
from eventing.consumer.kafka import build_runner
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff
from eventing.consumer.runner import ConsumerRunner, RunnerConfig
from eventing.events import AVRO_CONTENT_TYPE, CLOUDEVENTS_SPECVERSION, EventType
from eventing.runtime import get_codec
from eventing.schemas import register
from eventing.serialization.avro import AvroCodec
from eventing.serialization.registry import ConfluentSchemaRegistry, InMemorySchemaRegistry
from eventing.testing import (
    InMemoryBroker,
    InMemoryConsumer,
    InMemoryOutboxRelay,
    InMemoryProducer,
    eventually,
)
from eventing.testing.contracts import (
    OutboxContract,
    OutboxHarness,
    Received,
    RegistryContract,
    RunnerContract,
    RunnerHarness,
    Sent,
)
from tests.settings import SESSION, scratch_topic
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.handlers import project_account
from tests.testapp.models import AccountProjection

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class AccountHarness(RunnerHarness):
    """The test app's account projection as the counted effect (``applications`` per account)."""

    def data(self, key: uuid.UUID, *, version: int = 1, owner: str = "o") -> dict[str, Any]:
        return {"id": key, "owner": owner, "balance": 0, "opened_at": datetime.now(UTC), "version": version}

    def record(self, event: Event) -> None:
        project_account(event)

    def applications(self, key: uuid.UUID) -> int:
        row = AccountProjection.objects.filter(account_id=key).first()
        return row.applications if row else 0

    def version(self, key: uuid.UUID) -> int | None:
        row = AccountProjection.objects.filter(account_id=key).first()
        return row.version if row else None

    @staticmethod
    def headers(event_type: EventType, event_id: str) -> list[tuple[str, bytes]]:
        return [
            ("ce_id", event_id.encode()),
            ("ce_type", event_type.type.encode()),
            ("ce_specversion", CLOUDEVENTS_SPECVERSION.encode()),
            ("ce_source", b"/tests"),
            ("content-type", AVRO_CONTENT_TYPE.encode()),
        ]


class InMemoryHarness(AccountHarness):
    """The in-memory bus, with a clock that moves only when the harness advances it."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self.broker = broker
        self.event_type = ACCOUNT_STATE
        self.group = f"contract.{uuid.uuid4().hex[:8]}"
        self.now = 1000.0
        self.consumers: dict[int, InMemoryConsumer] = {}

    def clock(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def send(self, data: dict[str, Any], *, event_id: str | None = None, value: bytes | None = None) -> Sent:
        event_id = event_id or str(uuid.uuid4())
        from eventing.runtime import runtime

        resolved = runtime.resolved(self.event_type)
        payload = value if value is not None else AvroCodec.encode(resolved.schema_id, resolved.parsed, data)
        message = self.broker.produce(
            self.event_type.topic, payload, str(data["id"]).encode(), self.headers(self.event_type, event_id)
        )
        return Sent(event_id, message.partition(), message.offset(), payload)

    def start(self, handle: Callable[[Event], None], *, max_attempts: int = 3) -> ConsumerRunner:
        handlers = HandlerRegistry()
        handlers.handler(self.event_type)(handle)
        consumer = InMemoryConsumer(self.broker, self.group)
        runner = ConsumerRunner(
            group=self.group,
            handlers=handlers,
            consumer=consumer,
            producer=InMemoryProducer(self.broker),
            codec=get_codec(),
            config=RunnerConfig(
                batch_size=100,
                poll_timeout=0,
                max_attempts=max_attempts,
                backoff=Backoff(initial=self.backoff, multiplier=1.0, maximum=self.backoff, jitter=0.0),
                inbox_purge_interval=0,
            ),
            clock=self.clock,
            wait=self.advance,
        )
        runner.subscribe()
        self.consumers[id(runner)] = consumer
        return runner

    def run_until(
        self, runner: ConsumerRunner, condition: Callable[[], bool], *, timeout: float = 60.0
    ) -> None:
        for _ in range(2000):
            runner.run_once()
            if condition():
                return
            self.advance(self.backoff)
        raise AssertionError(f"not reached after 2000 rounds: {condition}")

    def dead_letters(self) -> list[tuple[dict[str, bytes], bytes]]:
        topic = f"{self.group}.{self.event_type.topic}.dlt"
        return [(dict(m.headers()), m.value()) for m in self.broker.messages(topic)]

    def committed(self) -> dict[int, int]:
        return {
            p: o
            for (g, t, p), o in self.broker.committed.items()
            if g == self.group and t == self.event_type.topic
        }

    def lose_commits(self, runner: ConsumerRunner) -> None:
        for key in [k for k in self.broker.committed if k[0] == self.group]:
            del self.broker.committed[key]
        self.consumers[id(runner)].crash()


class KafkaHarness(AccountHarness):
    """Real Kafka and the real registry: a topic and a group of this test, the runner as deployed."""

    def __init__(self, registry: ConfluentSchemaRegistry) -> None:
        self.event_type = EventType(
            "account_state", scratch_topic("contract"), ACCOUNT_STATE.schema, owned=False
        )
        (self.resolved,) = register([self.event_type], registry=registry)
        self.group = f"tests.contract.{SESSION}.{uuid.uuid4().hex[:8]}"
        self.producer = Producer(eventing_settings.kafka_config())
        self.runners: list[ConsumerRunner] = []

    def advance(self, seconds: float) -> None:
        """Real time passes by itself; the retries are due after ``backoff`` seconds."""

    def send(self, data: dict[str, Any], *, event_id: str | None = None, value: bytes | None = None) -> Sent:
        event_id = event_id or str(uuid.uuid4())
        payload = (
            value
            if value is not None
            else AvroCodec.encode(self.resolved.schema_id, self.resolved.parsed, data)
        )
        delivered: list[Any] = []
        self.producer.produce(
            self.event_type.topic,
            key=str(data["id"]).encode(),
            value=payload,
            headers=self.headers(self.event_type, event_id),
            on_delivery=lambda error, message: delivered.append((error, message)),
        )
        self.producer.flush(30)
        ((error, message),) = delivered
        assert error is None, error
        return Sent(event_id, message.partition(), message.offset(), payload)

    def start(self, handle: Callable[[Event], None], *, max_attempts: int = 3) -> ConsumerRunner:
        handlers = HandlerRegistry()
        handlers.handler(self.event_type)(handle)
        runner = build_runner(
            self.group,
            handlers,
            config=RunnerConfig(
                batch_size=100,
                poll_timeout=0.1,
                max_attempts=max_attempts,
                backoff=Backoff(initial=self.backoff, multiplier=1.0, maximum=self.backoff, jitter=0.0),
                dead_letter_topic=str(eventing_settings.DEAD_LETTER_TOPIC),
                inbox_purge_interval=0,
            ),
        )
        runner.subscribe()
        self.runners.append(runner)
        return runner

    def run_until(
        self, runner: ConsumerRunner, condition: Callable[[], bool], *, timeout: float = 60.0
    ) -> None:
        def step() -> bool:
            runner.run_once()
            return condition()

        eventually(step, timeout=timeout, interval=0, what=str(condition))

    def _reader(self) -> Consumer:
        return Consumer(
            {**eventing_settings.kafka_config(), "group.id": f"reader-{SESSION}-{uuid.uuid4().hex[:8]}"}
        )

    def dead_letters(self) -> list[tuple[dict[str, bytes], bytes]]:
        topic = f"{self.group}.{self.event_type.topic}.dlt"
        reader = self._reader()
        try:
            metadata = reader.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None:
                return []
            ends = {
                p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in metadata.partitions
            }
            wanted = sum(high - low for low, high in ends.values())
            reader.assign([TopicPartition(topic, p, low) for p, (low, _high) in ends.items()])
            found: list[tuple[dict[str, bytes], bytes]] = []

            def all_read() -> bool:
                message = reader.poll(0.2)
                if message is not None and message.error() is None:
                    found.append((dict(message.headers() or []), message.value() or b""))
                return len(found) >= wanted

            if wanted:
                eventually(all_read, timeout=30, interval=0, what=f"{wanted} dead letters")
            return found
        finally:
            reader.close()

    def committed(self) -> dict[int, int]:
        reader = Consumer({**eventing_settings.kafka_config(), "group.id": self.group})
        try:
            topic = self.event_type.topic
            partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
            done = reader.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
            return {tp.partition: tp.offset for tp in done if tp.offset >= 0}
        finally:
            reader.close()

    def lose_commits(self, runner: ConsumerRunner) -> None:
        """The runner leaves; then its group's offsets go back to the start, as if never committed."""
        runner.close()
        admin = AdminClient(eventing_settings.kafka_config())
        topic = self.event_type.topic
        partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
        rewind = [TopicPartition(topic, p, 0) for p in partitions]
        eventually(
            lambda: admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(self.group, rewind)])[
                self.group
            ].result(timeout=30),
            timeout=60,
            what="the group to be empty so its offsets can be rewound",
        )

    def close(self) -> None:
        for runner in self.runners:
            runner.close()
        self.producer.flush(10)


class TestRunnerOnTheInMemoryBus(RunnerContract):
    @pytest.fixture
    def harness(self, fake_registry: InMemorySchemaRegistry, broker: InMemoryBroker) -> RunnerHarness:
        return InMemoryHarness(broker)


@pytest.mark.slow
class TestRunnerOnKafka(RunnerContract):
    @pytest.fixture
    def harness(self, live_schemas: ConfluentSchemaRegistry) -> Iterator[RunnerHarness]:
        harness = KafkaHarness(live_schemas)
        yield harness
        harness.close()


class TestInMemoryRegistry(RegistryContract):
    @pytest.fixture
    def registry(self) -> InMemorySchemaRegistry:
        return InMemorySchemaRegistry()


class TestApicurioRegistry(RegistryContract):
    @pytest.fixture
    def registry(self, real_registry: ConfluentSchemaRegistry) -> ConfluentSchemaRegistry:
        return real_registry

    @pytest.fixture
    def subject(self, real_registry: ConfluentSchemaRegistry) -> Iterator[str]:
        subject = f"contract_{SESSION}_{uuid.uuid4().hex[:8]}-value"
        yield subject
        from confluent_kafka.schema_registry import SchemaRegistryClient

        client = SchemaRegistryClient({"url": eventing_settings.SCHEMA_REGISTRY_URL})
        with contextlib.suppress(Exception):  # a subject the test never registered
            client.delete_subject(subject)
            client.delete_subject(subject, permanent=True)


# -- the outbox: publish() in the test database, read the topic -----------------------------


def outbox_event_type() -> EventType:
    """The test app's account state on a topic of this test only (publish() resolves it)."""
    return EventType("account_state", scratch_topic("outbox"), ACCOUNT_STATE.schema)


def received(message: Any) -> Received:
    return Received(
        key=message.key(),
        value=message.value() or b"",
        headers=dict(message.headers() or []),
        partition=message.partition(),
        offset=message.offset(),
    )


class RelayOutboxHarness(OutboxHarness):
    """Committed outbox rows moved onto the in-memory bus by ``InMemoryOutboxRelay``."""

    def __init__(self, relay: InMemoryOutboxRelay, event_type: EventType) -> None:
        self.relay = relay
        self.event_type = event_type

    def received(self, until: Callable[[list[Received]], bool], *, timeout: float = 60.0) -> list[Received]:
        self.relay.relay()  # everything committed is relayed at once: no waiting
        messages = [received(m) for m in self.relay.broker.messages(self.event_type.topic)]
        assert until(messages), f"not on the topic after relaying: {messages}"
        return messages


class DebeziumOutboxHarness(OutboxHarness):
    """The session's Debezium outbox connector on the test database, and real Kafka."""

    partitions = 3

    def __init__(self, registry: ConfluentSchemaRegistry) -> None:
        self.event_type = outbox_event_type()
        register([self.event_type], registry=registry)
        topic = self.event_type.topic
        admin = AdminClient(eventing_settings.kafka_config())
        admin.create_topics([NewTopic(topic, self.partitions, 1)])[topic].result(timeout=30)
        self.reader = Consumer(
            {
                **eventing_settings.kafka_config(),
                "group.id": f"reader-{SESSION}-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
            }
        )
        eventually(
            lambda: (
                len(self.reader.list_topics(topic, timeout=10).topics[topic].partitions) == self.partitions
            ),
            timeout=30,
            what=f"topic {topic} to have its partitions",
        )
        self.reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(self.partitions)])
        self.messages: list[Received] = []

    def received(self, until: Callable[[list[Received]], bool], *, timeout: float = 60.0) -> list[Received]:
        def step() -> bool:
            self.messages.extend(received(m) for m in self.reader.consume(100, 0.2) if m.error() is None)
            return until(self.messages)

        eventually(step, timeout=timeout, interval=0, what=f"messages on {self.event_type.topic}")
        return list(self.messages)

    def close(self) -> None:
        self.reader.close()


class TestOutboxOnTheInMemoryRelay(OutboxContract):
    @pytest.fixture
    def harness(
        self, fake_registry: InMemorySchemaRegistry, broker: InMemoryBroker
    ) -> Iterator[OutboxHarness]:
        event_type = outbox_event_type()
        register([event_type], registry=fake_registry)
        with InMemoryOutboxRelay(broker) as relay:
            yield RelayOutboxHarness(relay, event_type)


@pytest.mark.slow
class TestOutboxThroughDebezium(OutboxContract):
    @pytest.fixture
    def harness(self, outbox_capture: Any, live_schemas: ConfluentSchemaRegistry) -> Iterator[OutboxHarness]:
        harness = DebeziumOutboxHarness(live_schemas)
        yield harness
        harness.close()


@pytest.mark.slow
class TestOutboxThroughDebeziumDeletingAfterInsert(TestOutboxThroughDebezium):
    """``OUTBOX_DELETE_AFTER_INSERT``: the table stays empty, Debezium routes the inserts."""

    @pytest.fixture(autouse=True)
    def delete_after_insert(self, settings: Any) -> None:
        settings.EVENTING = {**settings.EVENTING, "OUTBOX_DELETE_AFTER_INSERT": True}

    def test_the_outbox_table_stays_empty_while_the_events_arrive(self, harness: OutboxHarness) -> None:
        from django.db import transaction

        from eventing import publish
        from eventing.outbox.models import OutboxEvent

        with transaction.atomic():
            event_id = publish(harness.event_type, harness.data(uuid.uuid4()))
        assert OutboxEvent.objects.count() == 0
        messages = harness.received(lambda ms: any(m.header("ce_id") == str(event_id) for m in ms))
        assert [m.header("ce_id") for m in messages] == [str(event_id)]
