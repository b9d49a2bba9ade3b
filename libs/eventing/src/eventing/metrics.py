"""Prometheus metrics of the event flow, and the two ways they are served.

Every metric is defined here, once, in the default registry of ``prometheus_client``
(documented in ``docs/metrics.md``). Two kinds of processes serve them:

* **web** (gunicorn, several workers): :func:`metrics_view` at ``/metrics``. The chassis'
  gunicorn config sets ``PROMETHEUS_MULTIPROC_DIR`` to a directory it empties at start, so
  each worker writes its values there and the view sums them over every live and past
  worker (``prometheus_client.multiprocess``). Without that variable (``runserver``, tests)
  the view serves this process's registry.
* **consumer** (``eventing_consume``, one process, no web server): :func:`serve_metrics`
  starts ``prometheus_client``'s HTTP server on ``EVENTING["CONSUMER_METRICS_PORT"]``
  (loopback unless ``CONSUMER_METRICS_ADDRESS`` says otherwise), fed by
  :class:`MetricsMiddleware`, the first consumer middleware plug-in.

Counts are at-least-once like the delivery they count: a consumer that crashes after its
transaction and before its commit re-reads the batch, and the redelivery shows as
``duplicates``, not as a second ``applied``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client import multiprocess as _multiprocess

from eventing.consumer.middleware import ConsumerMiddleware
from eventing.events import Event

if TYPE_CHECKING:
    # Not at run time: importing this module (the /metrics view) must not load the models.
    from eventing.consumer.processing import BatchResult, Outcome
    from eventing.consumer.runner import ConsumerRunner

logger = logging.getLogger(__name__)

#: Environment variable of prometheus_client's multiprocess mode.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

EVENTS_CONSUMED = Counter(
    "eventing_events_consumed",
    "Events finished by a consumer (applied, duplicate or skipped), by outcome.",
    ["group", "topic", "type", "outcome"],
)
EVENTS_RETRIED = Counter(
    "eventing_events_retried",
    "Retries of a held key (its head event), after its handler failed.",
    ["group", "topic", "type"],
)
EVENTS_DEAD_LETTERED = Counter(
    "eventing_events_dead_lettered",
    "Messages written to a dead-letter topic, by reason (type 'unknown' if undecodable).",
    ["group", "topic", "type", "reason"],
)
BATCH_DURATION = Histogram(
    "eventing_batch_duration_seconds",
    "Wall time of one consumer transaction (a fresh batch, or a retry of a held key).",
    ["group", "kind"],
    buckets=_LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram(
    "eventing_batch_size",
    "Events in one consumer transaction.",
    ["group", "kind"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
END_TO_END_LATENCY = Histogram(
    "eventing_end_to_end_latency_seconds",
    "From the event's time (ce_time, set when the producer's transaction ran) to the consumer "
    "transaction that applied it committing.",
    ["group", "topic", "type"],
    buckets=_LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "eventing_consumer_lag",
    "Messages of an assigned partition not yet applied (end offset minus the offset the "
    "consumer would commit); refreshed at the status interval.",
    ["group", "topic", "partition"],
    multiprocess_mode="mostrecent",
)
OUTBOX_PUBLISHED = Counter(
    "eventing_outbox_published",
    "Events written to the outbox by committed transactions (publish()).",
    ["topic", "type"],
)
CONNECTOR_RESTARTS = Counter(
    "eventing_connector_restarts",
    "Restarts of a Kafka Connect connector or task by the supervisor (task '' = connector).",
    ["connector", "task"],
)


def event_time(event: Event) -> datetime | None:
    """The event's ``ce_time`` as an aware datetime, or None if absent or unparseable."""
    moment = event.time
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class MetricsMiddleware(ConsumerMiddleware):
    """Consumer middleware that feeds the Prometheus metrics above.

    Lag is measured as the status row measures it (cached watermarks, so never a broker
    round trip in the loop); a partition that is revoked loses its series.
    """

    def __init__(self) -> None:
        from eventing.consumer.kafka import StatusReporter

        self._lag = StatusReporter()
        self._lag_series: set[tuple[str, str, str]] = set()
        # Label lookups cost more than the increments: keep each series' child.
        self._consumed: dict[tuple[str, str, str, str], Any] = {}
        self._latency: dict[tuple[str, str, str], Any] = {}

    def after_batch(
        self,
        runner: ConsumerRunner,
        events: Sequence[Event],
        result: BatchResult,
        seconds: float,
        *,
        retry: bool,
    ) -> None:
        kind = "retry" if retry else "batch"
        BATCH_DURATION.labels(runner.group, kind).observe(seconds)
        BATCH_SIZE.labels(runner.group, kind).observe(len(events))

    def on_outcome(self, runner: ConsumerRunner, event: Event, outcome: Outcome) -> None:
        value = outcome.value
        key = (runner.group, event.topic, event.type, value)
        counter = self._consumed.get(key)
        if counter is None:
            counter = self._consumed[key] = EVENTS_CONSUMED.labels(*key)
        counter.inc()
        if value == "applied":
            moment = event_time(event)
            if moment is not None:
                series = key[:3]
                histogram = self._latency.get(series)
                if histogram is None:
                    histogram = self._latency[series] = END_TO_END_LATENCY.labels(*series)
                histogram.observe(max(time.time() - moment.timestamp(), 0.0))

    def on_retry(self, runner: ConsumerRunner, event: Event) -> None:
        EVENTS_RETRIED.labels(runner.group, event.topic, event.type).inc()

    def on_dead_letter(self, runner: ConsumerRunner, topic: str, event_type: str | None, reason: str) -> None:
        EVENTS_DEAD_LETTERED.labels(runner.group, topic, event_type or "unknown", reason).inc()

    def on_report(self, runner: ConsumerRunner) -> None:
        if not hasattr(runner.consumer, "get_watermark_offsets"):
            return  # the in-memory bus has no watermarks
        lags = self._lag.partition_lags(runner) or {}
        current = {(runner.group, topic, str(partition)) for topic, partition in lags}
        for labels in self._lag_series - current:
            CONSUMER_LAG.remove(*labels)
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(runner.group, topic, str(partition)).set(lag)
        self._lag_series = current


def count_published(topic: str, type_name: str, count: int = 1) -> None:
    """Count outbox rows (call on commit: a rolled-back publish is no publish)."""
    OUTBOX_PUBLISHED.labels(topic, type_name).inc(count)


def registry_for_scrape() -> Any:
    """The registry to serve: every process's values in multiprocess mode, else ours."""
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: the Prometheus text exposition (no authentication, like /health/)."""
    return HttpResponse(generate_latest(registry_for_scrape()), content_type=CONTENT_TYPE_LATEST)


def serve_metrics(port: int, address: str = "127.0.0.1") -> Any:
    """Serve this process's metrics on ``address:port`` in a daemon thread; return the server.

    For processes without a web server (the consumer). ``port`` 0 picks a free port
    (``server.server_port`` tells which).
    """
    server, _thread = start_http_server(port, addr=address, registry=registry_for_scrape())
    logger.info("metrics served on http://%s:%d/metrics", address, server.server_port)
    return server
