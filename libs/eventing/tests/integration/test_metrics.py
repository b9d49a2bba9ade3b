"""Consumer middleware and Prometheus metrics, on the in-memory bus (real Kafka: lag, at the end).

Each test uses a consumer group of its own, so its metric series start at zero.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from eventing import Event
from eventing.conf import eventing_settings
from eventing.consumer.middleware import ConsumerMiddleware
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff
from eventing.consumer.runner import ConsumerRunner, RunnerConfig
from eventing.exceptions import ConfigurationError
from eventing.metrics import CONSUMER_LAG, MetricsMiddleware, serve_metrics
from eventing.runtime import get_codec
from eventing.testing import (
    InMemoryBroker,
    InMemoryConsumer,
    InMemoryProducer,
    cloudevent_message,
    eventually,
)
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.handlers import project_account
from tests.testapp.services import account_open

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOPIC = ACCOUNT_STATE.topic


def sample(name: str, **labels: str) -> float:
    """The value of one series now (0 if it does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def account(account_id: uuid.UUID | None = None, **overrides: Any) -> dict[str, Any]:
    return {
        "id": account_id or uuid.uuid4(),
        "owner": "o",
        "balance": 0,
        "opened_at": datetime.now(UTC),
        "version": 1,
        **overrides,
    }


def runner_on(
    broker: InMemoryBroker,
    handle: Callable[[Event], None] = project_account,
    *,
    middleware: list[Any] | None = None,
    max_attempts: int = 3,
) -> ConsumerRunner:
    handlers = HandlerRegistry()
    handlers.handler(ACCOUNT_STATE)(handle)
    group = f"tests.metrics.{uuid.uuid4().hex[:8]}"
    runner = ConsumerRunner(
        group=group,
        handlers=handlers,
        consumer=InMemoryConsumer(broker, group),
        producer=InMemoryProducer(broker),
        codec=get_codec(),
        config=RunnerConfig(
            batch_size=100,
            poll_timeout=0,
            max_attempts=max_attempts,
            backoff=Backoff(initial=0.0, multiplier=1.0, maximum=0.0, jitter=0.0),
            inbox_purge_interval=0,
        ),
        middleware=middleware,
    )
    runner.subscribe()
    return runner


def test_one_applied_event_moves_the_consumer_metrics(fake_registry, broker) -> None:
    # Given a consumer with the default middleware (the setting) and an event made 2 s ago
    runner = runner_on(broker)
    group = runner.group
    made = datetime.now(UTC) - timedelta(seconds=2)
    cloudevent_message(
        broker, ACCOUNT_STATE, account(), headers={"ce_time": made.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    )
    # When it is consumed
    runner.run_once()
    # Then it is counted as applied, once, with its batch and its end-to-end latency
    applied = {"group": group, "topic": TOPIC, "type": "account_state", "outcome": "applied"}
    assert sample("eventing_events_consumed_total", **applied) == 1
    assert sample("eventing_batch_duration_seconds_count", group=group, kind="batch") == 1
    assert sample("eventing_batch_size_sum", group=group, kind="batch") == 1
    e2e = {"group": group, "topic": TOPIC, "type": "account_state"}
    assert sample("eventing_end_to_end_latency_seconds_count", **e2e) == 1
    assert 2.0 <= sample("eventing_end_to_end_latency_seconds_sum", **e2e) < 60.0
    assert sample("eventing_end_to_end_latency_seconds_bucket", le="1.0", **e2e) == 0


def test_duplicates_retries_and_dead_letters_are_counted_by_reason(fake_registry, broker) -> None:
    # Given an event delivered twice, a poison message, and an event whose handler always fails
    def fails_for_mallory(event: Event) -> None:
        if event.data["owner"] == "mallory":
            raise ValueError("mallory is not welcome")
        project_account(event)

    runner = runner_on(broker, fails_for_mallory, max_attempts=2)
    group = runner.group
    event_id = str(uuid.uuid4())
    twice = account()
    cloudevent_message(broker, ACCOUNT_STATE, twice, event_id=event_id)
    cloudevent_message(broker, ACCOUNT_STATE, twice, event_id=event_id)
    broker.produce(TOPIC, b"\x00garbage", b"k", [("ce_id", b"bad"), ("ce_type", b"account_state")])
    cloudevent_message(broker, ACCOUNT_STATE, account(owner="mallory"))
    # When the consumer has run through its retries
    for _ in range(4):
        runner.run_once()
    # Then each fate has its own series
    base = {"group": group, "topic": TOPIC}
    assert sample("eventing_events_consumed_total", **base, type="account_state", outcome="applied") == 1
    assert sample("eventing_events_consumed_total", **base, type="account_state", outcome="duplicate") == 1
    assert sample("eventing_events_retried_total", **base, type="account_state") == 1
    assert sample("eventing_events_dead_lettered_total", **base, type="unknown", reason="undecodable") == 1
    assert (
        sample("eventing_events_dead_lettered_total", **base, type="account_state", reason="handler_failed")
        == 1
    )
    assert sample("eventing_batch_duration_seconds_count", group=group, kind="retry") == 1
    assert runner.counters.dead_lettered == 2  # the runner's own counters agree


class Recorder(ConsumerMiddleware):
    """Writes each hook call to a shared journal, tagged with its name."""

    journal: ClassVar[list[tuple[str, str, str]]] = []

    def __init__(self, name: str = "first") -> None:
        self.name = name

    def _log(self, hook: str, detail: str = "") -> None:
        self.journal.append((self.name, hook, detail))

    def before_batch(self, runner: Any, events: Any, *, retry: bool) -> None:
        self._log("before_batch", f"{len(events)} retry={retry}")

    def after_batch(self, runner: Any, events: Any, result: Any, seconds: float, *, retry: bool) -> None:
        self._log("after_batch", ",".join(o.value for o in result.outcomes))

    def on_outcome(self, runner: Any, event: Event, outcome: Any) -> None:
        self._log("on_outcome", outcome.value)

    def on_retry(self, runner: Any, event: Event) -> None:
        self._log("on_retry", event.data["owner"])

    def on_dead_letter(self, runner: Any, topic: str, event_type: str | None, reason: str) -> None:
        self._log("on_dead_letter", reason)

    def on_report(self, runner: Any) -> None:
        self._log("on_report")


class SecondRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__("second")


class Broken(ConsumerMiddleware):
    def before_batch(self, runner: Any, events: Any, *, retry: bool) -> None:
        raise RuntimeError("this plug-in is broken")


@pytest.fixture
def journal() -> Iterator[list[tuple[str, str, str]]]:
    Recorder.journal = []
    yield Recorder.journal
    Recorder.journal = []


def middleware_setting(*paths: str) -> Any:
    return override_settings(EVENTING={**eventing_settings.user_settings, "CONSUMER_MIDDLEWARE": list(paths)})


def test_middleware_from_the_setting_is_called_in_order_around_each_batch(
    fake_registry, broker, journal
) -> None:
    # Given two plug-ins configured in this order, and one good then one failing event
    with middleware_setting(f"{__name__}.Recorder", f"{__name__}.SecondRecorder"):
        runner = runner_on(broker, lambda e: _fail_for("bob", e), max_attempts=2)
    key = uuid.uuid4()  # one key, one partition: alice is read before bob
    cloudevent_message(broker, ACCOUNT_STATE, account(key, owner="alice"))
    cloudevent_message(broker, ACCOUNT_STATE, account(key, owner="bob", version=2))
    # When the loop runs once (no backoff: the failing key is retried, then dead-lettered)
    runner.run_once()
    # Then every hook ran, in the configured order, at its point of the loop
    first = [(hook, detail) for name, hook, detail in journal if name == "first"]
    assert first == [
        ("before_batch", "2 retry=False"),
        ("after_batch", "applied,failed"),
        ("on_outcome", "applied"),
        ("on_retry", "bob"),
        ("before_batch", "1 retry=True"),
        ("after_batch", "failed"),
        ("on_dead_letter", "handler_failed"),
        ("on_report", ""),
    ]
    assert [name for name, _, _ in journal[:4]] == ["first", "second", "first", "second"]
    assert len(journal) == 2 * len(first)


def _fail_for(owner: str, event: Event) -> None:
    if event.data["owner"] == owner:
        raise ValueError(f"{owner} always fails")
    project_account(event)


def test_a_broken_middleware_does_not_stop_consumption(fake_registry, broker, caplog) -> None:
    runner = runner_on(broker, middleware=[Broken(), MetricsMiddleware()])
    cloudevent_message(broker, ACCOUNT_STATE, account())
    runner.run_once()
    assert runner.counters.applied == 1
    labels = {"group": runner.group, "topic": TOPIC, "type": "account_state", "outcome": "applied"}
    assert sample("eventing_events_consumed_total", **labels) == 1  # later plug-ins still run
    assert "consumer middleware Broken.before_batch failed" in caplog.text


def test_an_unimportable_middleware_is_refused_by_name(broker) -> None:
    with middleware_setting("eventing.nowhere.Middleware"), pytest.raises(ConfigurationError) as refused:
        runner_on(broker)
    assert "eventing.nowhere.Middleware" in str(refused.value)


def test_system_check_names_an_unimportable_middleware() -> None:
    from eventing.checks import check_settings

    with middleware_setting("eventing.nowhere.Middleware"):
        ids = {m.id for m in check_settings()}
    assert "eventing.E020" in ids


def test_outbox_publishes_are_counted_when_the_transaction_commits(fake_registry) -> None:
    from tests.integration.test_outbox import open_then_fail

    labels = {"topic": TOPIC, "type": "account_state"}
    before = sample("eventing_outbox_published_total", **labels)
    account_open(owner="counted")
    assert sample("eventing_outbox_published_total", **labels) == before + 1
    with pytest.raises(RuntimeError):
        open_then_fail("rolled back")
    assert sample("eventing_outbox_published_total", **labels) == before + 1


def test_the_consumer_serves_its_metrics_over_http(fake_registry, broker) -> None:
    # Given a consumer that applied an event, serving its metrics on a free loopback port
    runner = runner_on(broker)
    cloudevent_message(broker, ACCOUNT_STATE, account())
    runner.run_once()
    server = serve_metrics(0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert f'eventing_events_consumed_total{{group="{runner.group}",' in body
    assert "# TYPE eventing_connector_restarts_total counter" in body


# -- real Kafka: lag per partition ----------------------------------------------------------


def test_lag_per_partition_counts_fetched_but_unapplied_events(live_schemas) -> None:
    from eventing.testing import eventually
    from tests.integration.test_real_stack import (
        CloudEventProducer,
        account_data,
        fresh_event_type,
        run_until,
        runner_for,
    )

    event_type = fresh_event_type()
    producer = CloudEventProducer(event_type, live_schemas)
    producer.send(account_data(uuid.uuid4()))
    runner = runner_for(event_type, project_account)
    metrics = MetricsMiddleware()

    def lag_total() -> float:
        metrics.on_report(runner)
        values = [
            s.value
            for m in CONSUMER_LAG.collect()
            for s in m.samples
            if s.labels["group"] == runner.group and s.labels["topic"] == event_type.topic
        ]
        return sum(values) if values else -1

    try:
        # Given one event applied: every partition's lag is 0, one series per partition
        run_until(runner, lambda: runner.counters.applied == 1)
        assert eventually(lambda: lag_total() == 0, timeout=30, what="lag 0 after the event")
        partitions = {
            s.labels["partition"]
            for m in CONSUMER_LAG.collect()
            for s in m.samples
            if s.labels["group"] == runner.group
        }
        assert len(partitions) == len(runner.consumer.assignment())
        # When two more are fetched behind the runner's back (not applied)
        for _ in range(2):
            producer.send(account_data(uuid.uuid4()))
        fetched: list[Any] = []

        def fetched_lag() -> float | None:
            fetched.extend(runner.consumer.consume(10, 0.2))
            return lag_total() if len(fetched) == 2 else None

        # Then the gauges sum to them
        assert eventually(fetched_lag, timeout=30, what="lag of the unapplied") == 2
    finally:
        runner.close()


def test_a_taken_metrics_port_is_a_clear_error_before_the_consumer_starts() -> None:
    from django.core.management import CommandError, call_command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"Cannot serve metrics on 127.0.0.1:{port}"):
            call_command("eventing_consume", "--group", "tests.metrics.port", "--metrics-port", str(port))


def test_eventing_consume_serves_metrics_that_count_one_new_event(live_schemas) -> None:
    from eventing.serialization.avro import AvroCodec
    from tests.integration.test_real_stack import (
        HERE,
        CloudEventProducer,
        _test_database_url,
        account_data,
        fresh_event_type,
    )

    # Given a consumer process serving its metrics on a free port, on a topic of its own
    event_type = fresh_event_type()
    producer = CloudEventProducer(event_type, live_schemas)
    group = f"tests.metrics.{uuid.uuid4().hex[:8]}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "EVENTING_TEST_DATABASE_URL": _test_database_url(),
        "EVENTING_TESTS_TOPIC": event_type.topic,  # the test app's handler consumes this topic
        "PYTHONPATH": str(HERE.parent),
    }
    command = [
        sys.executable,
        "-m",
        "django",
        "eventing_consume",
        "--group",
        group,
        "--settings",
        "tests.settings",
    ]
    process = subprocess.Popen(
        [*command, "--metrics-port", str(port)], env=env, cwd=HERE.parent, stderr=subprocess.PIPE
    )
    applied = ("eventing_events_consumed_total", {"outcome": "applied", "topic": event_type.topic})
    e2e = ("eventing_end_to_end_latency_seconds_count", {"topic": event_type.topic})

    def scrape() -> str | None:
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            return None

    def value(body: str, series: tuple[str, dict[str, str]]) -> float | None:
        name, labels = series
        for family in text_string_to_metric_families(body):
            for sample_ in family.samples:
                wanted = {"group": group, **labels}
                if sample_.name == name and all(sample_.labels.get(k) == v for k, v in wanted.items()):
                    return float(sample_.value)
        return None

    try:
        body = eventually(scrape, timeout=60, what="the consumer's /metrics")
        assert value(body, applied) is None  # nothing consumed yet
        # When one event is created (at ce_time, as the outbox would stamp it)
        data = account_data(uuid.uuid4())
        producer.producer.produce(
            event_type.topic,
            key=str(data["id"]).encode(),
            value=AvroCodec.encode(producer.resolved.schema_id, producer.resolved.parsed, data),
            headers=[
                ("ce_id", str(uuid.uuid4()).encode()),
                ("ce_type", b"account_state"),
                ("ce_time", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()),
            ],
        )
        producer.producer.flush(10)
        # Then the scrape counts it as applied, with its end-to-end latency, and the lag is 0
        body = eventually(
            lambda: (b := scrape()) and value(b, applied) == 1 and b, timeout=60, what="one applied event"
        )
        assert value(body, e2e) == 1

        def lag_zero() -> bool:
            b = scrape() or ""
            lags = [
                s.value
                for family in text_string_to_metric_families(b)
                if family.name == "eventing_consumer_lag"
                for s in family.samples
                if s.labels["group"] == group and s.labels["topic"] == event_type.topic
            ]
            return bool(lags) and not any(lags)

        eventually(lag_zero, timeout=30, what="lag 0 per partition")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
