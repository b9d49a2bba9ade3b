"""Fixtures for tests against the real stack: Kafka, the schema registry, Kafka Connect.

They attach to the stack at the addresses in the environment (defaults: the local stack
that `make up` starts); `make test` starts it first.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from django.db import connection

from eventing.conf import eventing_settings
from eventing.connect.client import ConnectClient
from eventing.connect.debezium import Connector, outbox_connector
from eventing.connect.defaults import database_endpoint
from eventing.runtime import use_registry
from eventing.schemas import register
from eventing.serialization.registry import ConfluentSchemaRegistry
from eventing.testing import eventually
from tests.settings import SESSION


@pytest.fixture(scope="session", autouse=True)
def session_residue_removed() -> Iterator[None]:
    """At the end of the session, delete the topics, subjects and groups it created.

    Every one has the session id in its name (``tests.settings.SESSION``): the session
    topics, the scratch topics, the dead-letter topics ``<group>.<topic>.dlt``, the subjects
    ``<topic>-value`` and the consumer groups (Kafka keeps an empty group after its topics
    are deleted). A stack that is down leaves nothing to delete (a warning, not an error).
    """
    yield
    try:
        remove_residue(SESSION)
    except Exception as exc:  # pragma: no cover - the stack went away during the session
        warnings.warn(f"test residue of session {SESSION} not removed: {exc}", stacklevel=1)


def remove_residue(session: str, *, timeout: float = 30.0) -> tuple[list[str], list[str], list[str]]:
    """Delete the topics, subjects and (empty) groups whose names contain ``session``."""
    admin = AdminClient(eventing_settings.kafka_config())
    topics = sorted(t for t in admin.list_topics(timeout=timeout).topics if session in t)
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=timeout).values():
            future.result(timeout=timeout)
    listed = admin.list_consumer_groups(request_timeout=timeout).result()
    groups = sorted(g.group_id for g in listed.valid if session in g.group_id)
    if groups:
        for future in admin.delete_consumer_groups(groups, request_timeout=timeout).values():
            future.result()
    base = str(eventing_settings.SCHEMA_REGISTRY_URL).rstrip("/")
    with httpx.Client(base_url=base, timeout=timeout) as registry:
        subjects = sorted(s for s in registry.get("/subjects").json() if session in s)
        for subject in subjects:
            registry.delete(f"/subjects/{subject}").raise_for_status()
            registry.delete(f"/subjects/{subject}", params={"permanent": "true"}).raise_for_status()
    return topics, subjects, groups


@pytest.fixture(scope="session")
def real_registry() -> Iterator[ConfluentSchemaRegistry]:
    registry = ConfluentSchemaRegistry(eventing_settings.SCHEMA_REGISTRY_URL)
    yield registry
    registry.close()


@pytest.fixture
def live_schemas(real_registry: ConfluentSchemaRegistry) -> Iterator[ConfluentSchemaRegistry]:
    """The real registry, with the owned schemas registered and resolved for publish()."""
    use_registry(real_registry)
    register()
    yield real_registry
    use_registry(None)


@pytest.fixture(scope="session")
def outbox_capture(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Connector]:
    """A Debezium outbox connector on the test database, for this session only.

    Teardown deletes the connector and its replication slot, so the test database can be
    dropped and no slot is left pinning WAL.
    """
    with django_db_blocker.unblock():
        connector = outbox_connector(f"eventing-tests-{uuid.uuid4().hex[:8]}", database_endpoint())
    client = ConnectClient(eventing_settings.CONNECT_URL)
    client.apply(connector)
    client.wait_running(connector.name, timeout=120)
    yield connector
    client.delete(connector.name)
    client.close()
    slot = connector.config["slot.name"]
    publication = connector.config["publication.name"]
    with django_db_blocker.unblock(), connection.cursor() as cursor:

        def slot_released() -> bool:
            cursor.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", [slot])
            row = cursor.fetchone()
            return row is None or not row[0]

        eventually(slot_released, timeout=60, what="the connector to release its slot")
        cursor.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
            [slot],
        )
        cursor.execute(f'DROP PUBLICATION IF EXISTS "{publication}"')


@pytest.fixture
def kafka_reader() -> Iterator[Callable[[str], Consumer]]:
    """Make a consumer that reads a topic from the beginning with its own group."""
    consumers: list[Consumer] = []

    def make(topic: str) -> Consumer:
        consumer = Consumer(
            eventing_settings.kafka_config(
                **{
                    "group.id": f"reader-{SESSION}-{uuid.uuid4().hex[:8]}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                }
            )
        )
        consumer.subscribe([topic])
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in consumers:
        consumer.close()


def read_until(
    consumer: Consumer, predicate: Callable[[list[Any]], bool], *, timeout: float = 60.0
) -> list[Any]:
    """Collect messages until ``predicate(messages)`` holds (fails after ``timeout``)."""
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in consumer.consume(100, 0.5):
            if message.error() is None:
                messages.append(message)
        if predicate(messages):
            return messages
    raise AssertionError(f"timed out after {timeout}s; got {len(messages)} messages")
