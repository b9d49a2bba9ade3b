"""Health checks of the event pipeline, for a service's ``/health/`` view.

A check is a callable taking no arguments that returns when healthy and raises an exception
saying what is wrong. The view that runs them (``settings.HEALTH_CHECKS``) belongs to the
service chassis (``chassis.health``); these are the checks the library knows how to make:
the database, Kafka, the schema registry, a consumer group's liveness and progress (and,
in ``eventing.cdc``, the change data capture).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
from confluent_kafka.admin import AdminClient
from django.db import connection

from eventing.conf import eventing_settings

logger = logging.getLogger(__name__)


def check_database() -> None:
    """``SELECT 1`` on the default database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_kafka(timeout: float = 3.0) -> None:
    """A metadata request to the brokers answers within ``timeout`` seconds."""
    admin = AdminClient(eventing_settings.kafka_config())
    metadata = admin.list_topics(timeout=timeout)
    if not metadata.brokers:
        raise RuntimeError("Kafka returned no brokers")


def check_schema_registry(timeout: float = 3.0) -> None:
    """The registry's Confluent API answers (``GET /subjects``)."""
    url = str(eventing_settings.SCHEMA_REGISTRY_URL).rstrip("/") + "/subjects"
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()


def check_consumer(group: str, *, max_age: float = 30.0, max_stall: float = 120.0) -> None:
    """A member of ``group`` is alive, and none is stuck.

    Alive: some member reported in within ``max_age`` seconds (rows of members not seen for
    longer are dead processes and ignored; live consumers delete them after
    ``STATUS_ROW_RETENTION``). Stuck: a live member with messages waiting (lag > 0) that
    applied, skipped or dead-lettered nothing for ``max_stall`` seconds, e.g. a handler
    blocked on a lock or a partition paused forever. A member catching up on a backlog
    progresses and stays green.
    """
    from eventing.inbox.models import ConsumerStatus

    now = datetime.now(UTC)
    rows = list(ConsumerStatus.objects.filter(consumer_group=group).order_by("-seen_at"))
    if not rows:
        raise RuntimeError(f"no consumer of group {group} has reported")
    live = [r for r in rows if now - r.seen_at <= timedelta(seconds=max_age)]
    if not live:
        age = now - rows[0].seen_at
        raise RuntimeError(
            f"consumer group {group} last reported {age.total_seconds():.0f}s ago ({rows[0].member})"
        )
    for row in live:
        stalled = now - (row.progressed_at or row.started_at)
        if row.lag and stalled > timedelta(seconds=max_stall):
            raise RuntimeError(
                f"consumer {row.member} is stuck: {row.lag} messages waiting and no progress "
                f"for {stalled.total_seconds():.0f}s (threshold {max_stall:.0f}s)"
            )
