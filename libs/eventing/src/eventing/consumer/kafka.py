"""Building the real consumer from settings: confluent-kafka clients, runner, status row."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from confluent_kafka import Consumer, Producer

from eventing.conf import eventing_settings
from eventing.consumer.registry import HandlerRegistry
from eventing.consumer.retry import Backoff
from eventing.consumer.runner import ConsumerPort, ConsumerRunner, ProducerPort, RunnerConfig
from eventing.logfilters import CollapseRepeats
from eventing.runtime import get_codec

logger = logging.getLogger(__name__)
#: librdkafka's own log lines (connection failures, rebalances) go through Python logging;
#: repeats (a reconnect attempt every ~50 ms while a broker is down) are collapsed.
kafka_logger = logging.getLogger("eventing.kafka.client")
kafka_logger.addFilter(CollapseRepeats(window=30.0))
#: Seconds after which the status row of a member that stopped reporting (killed, its host
#: gone) is deleted by any live consumer of the database.
STATUS_ROW_RETENTION = 3600.0


def runner_config() -> RunnerConfig:
    """RunnerConfig from ``settings.EVENTING``."""
    s = eventing_settings
    return RunnerConfig(
        batch_size=int(s.CONSUMER_BATCH_SIZE),
        poll_timeout=float(s.CONSUMER_POLL_TIMEOUT),
        max_attempts=int(s.CONSUMER_MAX_ATTEMPTS),
        backoff=Backoff(
            initial=float(s.CONSUMER_BACKOFF_INITIAL),
            multiplier=float(s.CONSUMER_BACKOFF_MULTIPLIER),
            maximum=float(s.CONSUMER_BACKOFF_MAX),
        ),
        max_pending=int(s.CONSUMER_MAX_PENDING),
        dead_letter_topic=str(s.DEAD_LETTER_TOPIC),
        inbox_retention=float(s.INBOX_RETENTION),
        inbox_purge_interval=float(s.INBOX_PURGE_INTERVAL),
    )


def consumer_config(group: str, **overrides: Any) -> dict[str, Any]:
    """librdkafka consumer settings: manual commits, start from the earliest offset."""
    return eventing_settings.kafka_config(
        **{
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # Notice topics created after subscribing within seconds, not librdkafka's 5 min.
            "topic.metadata.refresh.interval.ms": 10_000,
            "client.id": f"{group}-{socket.gethostname()}-{os.getpid()}",
            **overrides,
        }
    )


def producer_config(**overrides: Any) -> dict[str, Any]:
    """librdkafka producer settings: idempotent, acks from all in-sync replicas."""
    return eventing_settings.kafka_config(
        **{"enable.idempotence": True, "acks": "all", "linger.ms": 5, **overrides}
    )


class StatusReporter:
    """Writes the consumer's status row (liveness, counters, lag); called from the loop.

    It must not hold the loop up: an uncached watermark query waits behind the in-flight
    fetch on the broker connection (up to ``fetch.wait.max.ms``, 500 ms, per partition), which
    once delayed one idle event in three by 2 s. So the lag uses librdkafka's cached
    watermarks (refreshed by every fetch response, so at most one fetch cycle old; a paused
    partition's are older) and looks a partition's committed offset up once per assignment,
    only while nothing has been read from it.
    """

    def __init__(self, committed_timeout: float = 1.0, purge_interval: float = 60.0) -> None:
        self.committed_timeout = committed_timeout
        self.purge_interval = purge_interval
        self._committed: dict[tuple[str, int], int] = {}
        self._done: int | None = None
        self._progressed_at: datetime | None = None
        self._next_purge = 0.0
        self._latency_seen = (0.0, 0)
        self._latency: float | None = None
        self._latency_at: datetime | None = None

    def __call__(self, runner: ConsumerRunner) -> None:
        lag = self.lag(runner)
        counters = runner.counters
        done = counters.applied + counters.duplicates + counters.skipped + counters.dead_lettered
        now = datetime.now(UTC)
        if done != self._done or not lag:
            self._done, self._progressed_at = done, now
        total, events = counters.latency_seconds, counters.latency_events
        if events > self._latency_seen[1]:  # the mean of this interval's applied events
            self._latency = (total - self._latency_seen[0]) / (events - self._latency_seen[1])
            self._latency_at, self._latency_seen = now, (total, events)
        record_status(
            runner,
            lag=lag,
            progressed_at=self._progressed_at,
            latency=self._latency,
            latency_at=self._latency_at,
        )
        if now.timestamp() >= self._next_purge:
            self._next_purge = now.timestamp() + self.purge_interval
            purge_dead_status_rows()

    def lag(self, runner: ConsumerRunner) -> int | None:
        """Messages behind the end of the assigned partitions (None when unknown or closed).

        Measured from the offset the runner would commit (applied, not merely fetched), or
        the group's committed offset for partitions it has not read from yet.
        """
        lags = self.partition_lags(runner)
        return None if lags is None else sum(lags.values())

    def partition_lags(self, runner: ConsumerRunner) -> dict[tuple[str, int], int] | None:
        """:meth:`lag` per assigned partition (None when unknown or closed)."""
        if runner.closed:
            return None
        consumer: Any = runner.consumer
        try:
            assignment = consumer.assignment()
            if not assignment:
                return None
            keys = {(tp.topic, tp.partition) for tp in assignment}
            for key in set(self._committed) - keys:
                del self._committed[key]
            positions = runner.commit_positions()
            unknown = [tp for tp in assignment if (tp.topic, tp.partition) not in positions]
            missing = [tp for tp in unknown if (tp.topic, tp.partition) not in self._committed]
            if missing:
                for tp in consumer.committed(missing, timeout=self.committed_timeout):
                    self._committed[(tp.topic, tp.partition)] = max(tp.offset, 0)
            lags: dict[tuple[str, int], int] = {}
            for tp in assignment:
                key = (tp.topic, tp.partition)
                low, high = consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    return None  # not fetched yet: unknown, not zero
                position = positions.get(key, self._committed.get(key, 0))
                lags[key] = max(0, high - max(position, low))
            return lags
        except Exception as exc:  # lag is informative; never let it break the loop
            logger.warning("consumer lag unavailable: %s", exc, extra={"group": runner.group})
            return None


def consumer_lag(runner: ConsumerRunner) -> int | None:
    """The runner's lag now (see :meth:`StatusReporter.lag`)."""
    return StatusReporter().lag(runner)


def purge_dead_status_rows(older_than: float = STATUS_ROW_RETENTION) -> int:
    """Delete status rows of members not seen for ``older_than`` seconds; return how many."""
    from eventing.inbox.models import ConsumerStatus

    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    deleted, _ = ConsumerStatus.objects.filter(seen_at__lt=cutoff).delete()
    if deleted:
        logger.info("deleted %d status rows of consumers not seen since %s", deleted, cutoff)
    return deleted


def record_status(
    runner: ConsumerRunner,
    *,
    lag: int | None = None,
    progressed_at: datetime | None = None,
    latency: float | None = None,
    latency_at: datetime | None = None,
) -> None:
    """Upsert the consumer's status row (liveness, counters, lag, recent latency).

    ``progressed_at`` defaults to now (the caller vouches for progress).
    """
    from eventing.inbox.models import ConsumerStatus

    counters = runner.counters
    ConsumerStatus.objects.update_or_create(
        member=runner.member,
        defaults={
            "consumer_group": runner.group,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": runner.started_at,
            "seen_at": datetime.now(UTC),
            "applied": counters.applied,
            "duplicates": counters.duplicates,
            "skipped": counters.skipped,
            "retried": counters.retried,
            "dead_lettered": counters.dead_lettered,
            "held": runner.held_count,
            "lag": lag,
            "progressed_at": progressed_at or datetime.now(UTC),
            "latency": latency,
            "latency_at": latency_at,
        },
    )


def ensure_topics(topics: list[str], *, timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Idempotent and race-safe: a topic created meanwhile by someone else is fine.
    """
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient(eventing_settings.kafka_config())
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [t for t in topics if t not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                t,
                num_partitions=int(eventing_settings.TOPIC_PARTITIONS),
                replication_factor=int(eventing_settings.TOPIC_REPLICATION_FACTOR),
            )
            for t in missing
        ],
        operation_timeout=timeout,
    )
    created = []
    for topic, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(topic)
        except Exception as exc:
            error = exc.args[0] if exc.args else None
            if getattr(error, "code", lambda: None)() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    if created:
        logger.info("created topics: %s", ", ".join(created))
    return created


def build_runner(
    group: str,
    handlers: HandlerRegistry,
    *,
    consumer_overrides: dict[str, Any] | None = None,
    config: RunnerConfig | None = None,
) -> ConsumerRunner:
    """A runner wired to real Kafka and the process-wide codec.

    With ``CREATE_TOPICS`` the source and dead-letter topics are created first, so the
    subscription is assigned every partition at once.
    """
    config = config or runner_config()
    if eventing_settings.CREATE_TOPICS:
        sources = handlers.topics()
        ensure_topics([*sources, *(config.dead_letter_topic.format(group=group, topic=t) for t in sources)])
    made: list[ConsumerRunner] = []  # the commit callback needs the runner built with it

    def on_commit(error: Any, partitions: list[Any]) -> None:
        if made:
            made[0].on_commit(error, partitions)

    overrides = {"on_commit": on_commit, **(consumer_overrides or {})}
    runner = ConsumerRunner(
        group=group,
        handlers=handlers,
        consumer=cast(ConsumerPort, Consumer(consumer_config(group, **overrides), logger=kafka_logger)),
        producer=cast(ProducerPort, Producer(producer_config(), logger=kafka_logger)),
        codec=get_codec(),
        config=config,
        status_reporter=StatusReporter(),
    )
    made.append(runner)
    return runner
