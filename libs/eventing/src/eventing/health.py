"""Health checks for services: Kafka, the schema registry, and live consumers.

Each check returns None when healthy and raises an exception saying what is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from confluent_kafka.admin import AdminClient

from eventing.conf import eventing_settings


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


def check_consumer(group: str, *, max_age: float = 30.0) -> None:
    """Some member of ``group`` reported in within ``max_age`` seconds."""
    from eventing.inbox.models import ConsumerStatus

    newest = (
        ConsumerStatus.objects.filter(consumer_group=group).order_by("-seen_at").first()
    )
    if newest is None:
        raise RuntimeError(f"no consumer of group {group} has reported")
    age = datetime.now(UTC) - newest.seen_at
    if age > timedelta(seconds=max_age):
        raise RuntimeError(
            f"consumer group {group} last reported {age.total_seconds():.0f}s ago ({newest.member})"
        )
