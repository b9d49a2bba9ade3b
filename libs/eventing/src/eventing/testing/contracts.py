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

The scenarios need a database effect they can count (the harness's ``record`` and
``applications``): effects and inbox rows commit together, which is what "exactly once" means.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from eventing.consumer.runner import ConsumerRunner
from eventing.events import Event
from eventing.exceptions import IncompatibleSchema
from eventing.serialization.registry import AbstractSchemaRegistry

__all__ = ["RegistryContract", "RunnerContract", "RunnerHarness", "Sent"]

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
