"""Contract suites: one set of scenarios, run against every implementation by subclassing.

A consumer that passes on the in-memory bus but not on Kafka (or the reverse) is a bug in one
of them; writing the scenarios once and running them on both is how the library keeps them
the same. Subclass a contract in a test module and provide its ``harness`` fixture::

    class TestRunnerOnKafka(RunnerContract):
        @pytest.fixture
        def harness(self, live_schemas) -> RunnerHarness:
            return KafkaHarness(...)

Contracts shipped here:

* :class:`RunnerContract`: the consumer runner. A poison message goes to the dead-letter topic
  and the next event of its key is applied; a failing handler is retried and then succeeds;
  exhausted retries dead-letter the event and release its key; no offset is committed past a
  held event; a restart after a lost commit has no double effect; a graceful stop mid-stream
  loses nothing and a second member finishes the stream exactly once.
* :class:`RegistryContract`: a schema registry client. Registering is idempotent, lookups
  return the registered id, and an incompatible change is refused naming the field.
* :class:`OutboxContract`: ``publish()`` / ``publish_many()`` through to a topic (harness:
  :class:`OutboxHarness`). An event of a committed transaction arrives once, keyed by its
  aggregate, with exactly the CloudEvents headers and a value that decodes to its data; a
  rolled-back transaction (one ``publish`` or a whole ``publish_many``) puts nothing on the
  topic; publishing outside a transaction is refused; one key's events arrive in the order
  they were published, within a ``publish_many`` and across transactions.

The runner scenarios need a database effect they can count (the harness's ``record`` and
``applications``): effects and inbox rows commit together, which is what "exactly once" means.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from django.db import transaction

from eventing.conf import eventing_settings
from eventing.consumer.runner import ConsumerRunner
from eventing.events import AVRO_CONTENT_TYPE, CLOUDEVENTS_SPECVERSION, Event, EventType
from eventing.exceptions import IncompatibleSchema, NotInTransaction
from eventing.outbox.publish import Outgoing, format_time, publish, publish_many
from eventing.runtime import get_codec
from eventing.serialization.registry import AbstractSchemaRegistry

__all__ = [
    "OutboxContract",
    "OutboxHarness",
    "Received",
    "RegistryContract",
    "RunnerContract",
    "RunnerHarness",
    "Sent",
    "rolled_back",
]

UNDECODABLE = b"\x00\x00\x00\x00\x01not-avro"


@dataclass(frozen=True)
class Sent:
    """A message a harness produced: where it landed and its CloudEvents id."""

    event_id: str
    partition: int
    offset: int
    value: bytes


class RunnerHarness(abc.ABC):
    """What a :class:`RunnerContract` needs of a bus, a runner factory and a database effect.

    Every runner a harness starts belongs to the same consumer group and reads the same topic
    (fresh per test); ``max_attempts`` bounds each handler's attempts before the dead-letter
    topic, and retries are due after ``backoff`` seconds of :meth:`advance`.
    """

    backoff: float = 0.05

    @abc.abstractmethod
    def send(self, data: dict[str, Any], *, event_id: str | None = None, value: bytes | None = None) -> Sent:
        """Produce a CloudEvent of the harness's type (``value`` replaces the encoded data)."""

    @abc.abstractmethod
    def data(self, key: uuid.UUID, *, version: int = 1, owner: str = "o") -> dict[str, Any]:
        """The payload of one event of aggregate ``key``."""

    @abc.abstractmethod
    def start(self, handle: Callable[[Event], None], *, max_attempts: int = 3) -> ConsumerRunner:
        """A subscribed runner of the harness's group calling ``handle`` for each event."""

    @abc.abstractmethod
    def run_until(
        self, runner: ConsumerRunner, condition: Callable[[], bool], *, timeout: float = 60.0
    ) -> None:
        """Run ``runner`` (advancing time past backoffs) until ``condition()`` holds."""

    @abc.abstractmethod
    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the runners' retry schedule."""

    @abc.abstractmethod
    def dead_letters(self) -> list[tuple[dict[str, bytes], bytes]]:
        """Headers and value of each message on the group's dead-letter topic."""

    @abc.abstractmethod
    def committed(self) -> dict[int, int]:
        """The group's committed offset per partition of the topic (absent: none)."""

    @abc.abstractmethod
    def lose_commits(self, runner: ConsumerRunner) -> None:
        """The runner dies without committing what it applied (a crash between the two)."""

    @abc.abstractmethod
    def record(self, event: Event) -> None:
        """The database effect of applying ``event`` (in the handler's transaction)."""

    @abc.abstractmethod
    def applications(self, key: uuid.UUID) -> int:
        """How many times an event of aggregate ``key`` was applied (0 if never)."""

    @abc.abstractmethod
    def version(self, key: uuid.UUID) -> int | None:
        """The version of aggregate ``key`` in the effect's table (None if absent)."""


class RunnerContract:
    """The consumer runner's guarantees, for any bus. Subclass and provide ``harness``."""

    @pytest.fixture
    def harness(self) -> RunnerHarness:
        raise NotImplementedError("a RunnerContract subclass provides the harness fixture")

    def test_a_poison_message_is_dead_lettered_and_the_next_event_of_its_key_applied(
        self, harness: RunnerHarness
    ) -> None:
        key = uuid.uuid4()
        poison = harness.send(harness.data(key), value=UNDECODABLE)
        harness.send(harness.data(key, version=2, owner="after-poison"))
        runner = harness.start(harness.record)
        try:
            harness.run_until(runner, lambda: harness.version(key) == 2 and len(harness.dead_letters()) == 1)
        finally:
            runner.close()
        ((headers, value),) = harness.dead_letters()
        assert headers["dlt.reason"] == b"undecodable"
        assert headers["ce_id"] == poison.event_id.encode()
        assert value == UNDECODABLE
        assert harness.applications(key) == 1
        assert harness.committed().get(poison.partition, 0) >= poison.offset + 2

    def test_a_failing_handler_is_retried_then_succeeds_once(self, harness: RunnerHarness) -> None:
        key = uuid.uuid4()
        harness.send(harness.data(key))
        failures = {"left": 2}

        def flaky(event: Event) -> None:
            if failures["left"]:
                failures["left"] -= 1
                raise ConnectionError("downstream not ready")
            harness.record(event)

        runner = harness.start(flaky, max_attempts=5)
        try:
            harness.run_until(runner, lambda: harness.applications(key) == 1)
        finally:
            runner.close()
        assert failures["left"] == 0
        assert runner.counters.retried >= 2
        assert harness.dead_letters() == []

    def test_exhausted_retries_dead_letter_the_event_and_release_its_key(
        self, harness: RunnerHarness
    ) -> None:
        a, b = uuid.uuid4(), uuid.uuid4()
        poison = harness.send(harness.data(a, owner="poison"))
        harness.send(harness.data(a, version=2))
        harness.send(harness.data(b))

        def refuse_poison(event: Event) -> None:
            if event.data["owner"] == "poison":
                raise ValueError("business rule violated")
            harness.record(event)

        runner = harness.start(refuse_poison, max_attempts=3)
        try:
            harness.run_until(runner, lambda: harness.version(a) == 2)
        finally:
            runner.close()
        ((headers, value),) = harness.dead_letters()
        assert headers["dlt.reason"] == b"handler_failed"
        assert headers["dlt.attempts"] == b"3"
        assert headers["dlt.exception.message"] == b"business rule violated"
        assert headers["ce_id"] == poison.event_id.encode()
        assert value == poison.value
        assert (harness.applications(a), harness.applications(b)) == (1, 1)

    def test_no_offset_is_committed_past_a_held_event(self, harness: RunnerHarness) -> None:
        poison = harness.send(harness.data(uuid.uuid4(), owner="poison"))
        later = [uuid.uuid4() for _ in range(20)]
        for key in later:
            harness.send(harness.data(key))

        def refuse_poison(event: Event) -> None:
            if event.data["owner"] == "poison":
                raise ValueError("held")
            harness.record(event)

        runner = harness.start(refuse_poison, max_attempts=1000)
        try:
            harness.run_until(runner, lambda: all(harness.applications(k) == 1 for k in later))
            runner.close()  # a graceful stop commits what it may
        finally:
            runner.close()
        assert harness.committed().get(poison.partition, 0) <= poison.offset
        assert harness.dead_letters() == []

    def test_a_restart_after_a_lost_commit_has_no_double_effect(self, harness: RunnerHarness) -> None:
        keys = [uuid.uuid4() for _ in range(5)]
        for key in keys:
            harness.send(harness.data(key))
        first = harness.start(harness.record)
        harness.run_until(first, lambda: all(harness.applications(k) == 1 for k in keys))
        harness.lose_commits(first)
        again = harness.start(harness.record)
        try:
            harness.run_until(again, lambda: again.counters.duplicates >= 1)
            harness.run_until(again, lambda: again.counters.applied + again.counters.duplicates >= len(keys))
        finally:
            again.close()
        assert again.counters.applied == 0
        assert [harness.applications(k) for k in keys] == [1] * len(keys)

    def test_a_graceful_stop_mid_stream_loses_nothing_and_applies_nothing_twice(
        self, harness: RunnerHarness
    ) -> None:
        keys = [uuid.uuid4() for _ in range(300)]
        for key in keys:
            harness.send(harness.data(key))
        first = harness.start(harness.record)
        harness.run_until(first, lambda: first.counters.applied > 0)
        first.stop()  # what SIGTERM does: finish the batch in hand, commit, leave
        first.close()
        second = harness.start(harness.record)
        try:
            harness.run_until(second, lambda: all(harness.applications(k) >= 1 for k in keys), timeout=120)
        finally:
            second.close()
        assert sorted({harness.applications(k) for k in keys}) == [1]
        assert first.counters.applied + second.counters.applied == len(keys)


class RegistryContract:
    """A schema registry client's behaviour. Subclass and provide ``registry`` and ``subject``."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "type": "record",
        "name": "ContractProbe",
        "namespace": "eventing.contracts",
        "fields": [{"name": "id", "type": "string"}],
    }

    @pytest.fixture
    def registry(self) -> AbstractSchemaRegistry:
        raise NotImplementedError("a RegistryContract subclass provides the registry fixture")

    @pytest.fixture
    def subject(self) -> str:
        """A subject no one else uses (the subclass deletes it afterwards if it must)."""
        return f"contract-{uuid.uuid4().hex[:12]}-value"

    def schema(self, *extra_fields: dict[str, Any]) -> str:
        return json.dumps({**self.SCHEMA, "fields": [{"name": "id", "type": "string"}, *extra_fields]})

    def test_registering_twice_returns_the_same_id_and_lookup_finds_it(
        self, registry: AbstractSchemaRegistry, subject: str
    ) -> None:
        first = registry.register(subject, self.schema())
        assert registry.register(subject, self.schema()) == first
        assert registry.lookup(subject, self.schema()) == first
        assert json.loads(registry.get_schema(first))["name"] == "ContractProbe"

    def test_a_backward_compatible_change_is_accepted_under_a_new_id(
        self, registry: AbstractSchemaRegistry, subject: str
    ) -> None:
        registry.set_compatibility(subject, "BACKWARD")
        first = registry.register(subject, self.schema())
        evolved = self.schema({"name": "note", "type": ["null", "string"], "default": None})
        assert registry.compatibility_problems(subject, evolved) == []
        assert registry.register(subject, evolved) != first

    def test_an_incompatible_change_is_refused_naming_the_field(
        self, registry: AbstractSchemaRegistry, subject: str
    ) -> None:
        registry.set_compatibility(subject, "BACKWARD")
        registry.register(subject, self.schema())
        breaking = self.schema({"name": "required_total", "type": "long"})  # no default
        problems = registry.compatibility_problems(subject, breaking)
        assert any("required_total" in problem for problem in problems), problems
        with pytest.raises(IncompatibleSchema):
            registry.register(subject, breaking)


@dataclass(frozen=True)
class Received:
    """A message read from the outbox harness's topic."""

    key: bytes | None
    value: bytes
    headers: dict[str, bytes | None]
    partition: int
    offset: int

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode()


class OutboxHarness(abc.ABC):
    """What an :class:`OutboxContract` needs: an event type whose topic only this test uses
    (its schema resolved, so ``publish()`` works) and a way to read that topic.

    The scenarios publish in the test database's transactions themselves; the harness moves
    committed outbox rows to the topic (a relay, or the real Debezium connector).
    """

    event_type: EventType

    @abc.abstractmethod
    def received(self, until: Callable[[list[Received]], bool], *, timeout: float = 60.0) -> list[Received]:
        """Every message on the topic so far, once ``until(messages)`` holds (fail after ``timeout``)."""

    def data(self, key: uuid.UUID, *, version: int = 1, owner: str = "o") -> dict[str, Any]:
        """The payload of one event of aggregate ``key`` (the test app's account state)."""
        return {"id": key, "owner": owner, "balance": 7, "opened_at": datetime.now(UTC), "version": version}

    def decode(self, value: bytes) -> Any:
        """The data of a message value, through the registry the harness publishes with."""
        return get_codec().decode(value)


#: The headers a record of the outbox connector carries, no more.
OUTBOX_HEADERS = frozenset(
    {
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "content-type",
        "ce_dataschema",
        "traceparent",
        "ce_partitionkey",
    }
)


class _RolledBack(Exception):
    """Raised inside a transaction to roll it back."""


def rolled_back(publishing: Callable[[], Any]) -> Any:
    """Run ``publishing`` in ``transaction.atomic()`` (a savepoint if one is open), then fail
    the block so it rolls back; return what ``publishing`` returned."""
    returned: list[Any] = []

    def publish_then_fail() -> None:
        with transaction.atomic():
            returned.append(publishing())
            raise _RolledBack

    with pytest.raises(_RolledBack):
        publish_then_fail()
    return returned[0]


def _with_id(event_id: uuid.UUID) -> Callable[[list[Received]], bool]:
    return lambda messages: any(m.header("ce_id") == str(event_id) for m in messages)


class OutboxContract:
    """The transactional outbox's guarantees, end to end. Subclass and provide ``harness``."""

    @pytest.fixture
    def harness(self) -> OutboxHarness:
        raise NotImplementedError("an OutboxContract subclass provides the harness fixture")

    def marker(self, harness: OutboxHarness, key: uuid.UUID) -> uuid.UUID:
        """Publish (and commit) an event of ``key``: once it arrives, what came before did."""
        with transaction.atomic():
            return publish(harness.event_type, harness.data(key, owner="marker", version=999))

    def test_a_committed_event_arrives_once_keyed_by_its_aggregate_with_cloudevents_headers(
        self, harness: OutboxHarness
    ) -> None:
        key = uuid.uuid4()
        data = harness.data(key, owner="committed")
        moment = datetime(2026, 11, 25, 1, 42, 52, 123456, tzinfo=UTC)
        parent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
        with transaction.atomic():
            event_id = publish(harness.event_type, data, time=moment, traceparent=parent)
        marker = self.marker(harness, key)
        messages = harness.received(_with_id(marker))
        (message,) = [m for m in messages if m.header("ce_id") == str(event_id)]
        assert message.key == str(key).encode()
        assert set(message.headers) == OUTBOX_HEADERS
        assert message.header("ce_type") == harness.event_type.type
        assert message.header("ce_source") == str(eventing_settings.SOURCE)
        assert message.header("ce_specversion") == CLOUDEVENTS_SPECVERSION
        assert message.header("ce_time") == "2026-11-25T01:42:52.123456Z"
        assert message.header("content-type") == AVRO_CONTENT_TYPE
        assert message.header("traceparent") == parent
        assert message.header("ce_partitionkey") == str(key)
        assert (message.header("ce_dataschema") or "").endswith(
            str(int.from_bytes(message.value[1:5], "big"))
        )
        assert harness.decode(message.value) == data
        # the marker of the same key came after it, on the same partition
        (after,) = [m for m in messages if m.header("ce_id") == str(marker)]
        assert (after.partition, after.offset) > (message.partition, message.offset)

    def test_an_explicit_key_and_id_are_the_record_key_and_ce_id(self, harness: OutboxHarness) -> None:
        aggregate, chosen = uuid.uuid4(), f"tenant-{uuid.uuid4().hex[:8]}"
        event_id = uuid.uuid4()
        with transaction.atomic():
            returned = publish(harness.event_type, harness.data(aggregate), key=chosen, event_id=event_id)
        assert returned == event_id
        (message,) = [m for m in harness.received(_with_id(event_id)) if m.header("ce_id") == str(event_id)]
        assert message.key == chosen.encode()
        assert message.header("ce_partitionkey") == chosen

    def test_a_rolled_back_transaction_publishes_nothing(self, harness: OutboxHarness) -> None:
        key = uuid.uuid4()
        ghost = rolled_back(lambda: publish(harness.event_type, harness.data(key, owner="ghost")))
        marker = self.marker(harness, key)  # same key: same partition, after the ghost's place
        messages = harness.received(_with_id(marker))
        assert [m.header("ce_id") for m in messages] == [str(marker)]
        assert all(harness.decode(m.value)["owner"] != "ghost" for m in messages)
        assert str(ghost) not in {m.header("ce_id") for m in messages}  # publish succeeded; rollback undid it

    def test_a_rolled_back_savepoint_drops_only_its_own_events(self, harness: OutboxHarness) -> None:
        key = uuid.uuid4()
        with transaction.atomic():
            kept = publish(harness.event_type, harness.data(key, owner="kept"))
            rolled_back(lambda: publish(harness.event_type, harness.data(key, owner="ghost")))
        marker = self.marker(harness, key)
        messages = harness.received(_with_id(marker))
        assert [m.header("ce_id") for m in messages] == [str(kept), str(marker)]

    def test_publishing_outside_a_transaction_is_refused_and_puts_nothing_on_the_topic(
        self, harness: OutboxHarness
    ) -> None:
        key = uuid.uuid4()
        with pytest.raises(NotInTransaction):
            publish(harness.event_type, harness.data(key, owner="ghost"))
        with pytest.raises(NotInTransaction):
            publish_many([Outgoing(harness.event_type, harness.data(key, owner="ghost"))])
        marker = self.marker(harness, key)
        assert [m.header("ce_id") for m in harness.received(_with_id(marker))] == [str(marker)]

    def test_publish_many_is_all_or_nothing_and_keeps_each_keys_order(self, harness: OutboxHarness) -> None:
        a, b = uuid.uuid4(), uuid.uuid4()
        rolled_back(
            lambda: publish_many(
                [Outgoing(harness.event_type, harness.data(k, owner="ghost")) for k in (a, b)]
            )
        )
        keys = [a, b, a, b, a]
        versions = {a: 0, b: 0}
        batch = []
        for k in keys:
            versions[k] += 1
            batch.append(Outgoing(harness.event_type, harness.data(k, version=versions[k])))
        with transaction.atomic():
            ids = publish_many(batch)
        assert len(ids) == len(batch)
        messages = harness.received(lambda ms: all(_with_id(i)(ms) for i in ids))
        assert len(messages) == len(batch)  # nothing of the rolled-back batch
        for k in (a, b):
            mine = sorted((m for m in messages if m.key == str(k).encode()), key=lambda m: m.offset)
            assert [m.header("ce_id") for m in mine] == [
                str(i) for i, kk in zip(ids, keys, strict=True) if kk == k
            ]
            assert [harness.decode(m.value)["version"] for m in mine] == list(range(1, versions[k] + 1))
            assert len({m.partition for m in mine}) == 1

    def test_events_of_one_key_arrive_in_publication_order_across_transactions(
        self, harness: OutboxHarness
    ) -> None:
        key, other = uuid.uuid4(), uuid.uuid4()
        start = datetime.now(UTC)
        ids = []
        for version in range(1, 11):
            with transaction.atomic():
                # an older event time does not reorder: the outbox order is the commit order
                moment = start - timedelta(seconds=version)
                ids.append(publish(harness.event_type, harness.data(key, version=version), time=moment))
                publish(harness.event_type, harness.data(other, version=version))
        messages = harness.received(lambda ms: all(_with_id(i)(ms) for i in ids))
        mine = sorted((m for m in messages if m.key == str(key).encode()), key=lambda m: m.offset)
        assert [m.header("ce_id") for m in mine] == [str(i) for i in ids]
        assert [harness.decode(m.value)["version"] for m in mine] == list(range(1, 11))
        assert [m.header("ce_time") for m in mine] == [
            format_time(start - timedelta(seconds=v)) for v in range(1, 11)
        ]
