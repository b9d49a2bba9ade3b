"""Fixtures of the infra tests: registry client, a throwaway database, Connect, cleanup.

The session-wide ``stack`` fixture (tests/conftest.py) brings the stack up; every test here
names its topics, subjects, connectors, slots and databases with a uuid suffix and leaves
nothing behind: ``residue`` (what a test names) and ``topics`` remove the topics, consumer
groups and registry subjects carrying those names, and ``no_residue`` fails the session if
anything named with the tier's prefix (``stack_``) is left on the shared stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from psycopg import sql

from stack.settings import Settings
from stack.testing import eventually, remove_residue, unique_name
from stack.testing import residue as find_residue
from tests.infra.helpers import ConnectRest


@pytest.fixture
def registry_client(stack: Settings) -> SchemaRegistryClient:
    """A Confluent ``SchemaRegistryClient`` on the registry's ccompat API."""
    return SchemaRegistryClient({"url": stack.schema_registry_url})


@pytest.fixture
def connect(stack: Settings) -> ConnectRest:
    """The Connect worker's REST API."""
    return ConnectRest(stack.connect_url)


# Every name the tier's tests create starts with this (unique_name("stack_...")).
PREFIX = "stack_"


@pytest.fixture(scope="session")
def no_residue(stack: Settings) -> Iterator[None]:
    """Fails the session if topics, groups or subjects named ``stack_*`` were left behind."""
    before = find_residue(stack, PREFIX)
    yield
    after = find_residue(stack, PREFIX)
    left = {kind: sorted(set(after[kind]) - set(before[kind])) for kind in after}
    assert not any(left.values()), f"the infra tests left residue on the shared stack: {left}"


@pytest.fixture
def residue(stack: Settings, no_residue: None) -> Iterator[list[str]]:
    """Names (tokens) a test appends to: afterwards every topic, consumer group and registry
    subject whose name contains one is deleted (a connector's heartbeat topic, the readers'
    groups, the ``<topic>-value`` subjects included)."""
    tokens: list[str] = []
    yield tokens
    for token in tokens:
        remove_residue(stack, token)


@pytest.fixture
def topics(stack: Settings, residue: list[str]) -> Iterator[list[str]]:
    """Topic names a test appends to; they are deleted after the test, with their readers'
    consumer groups and their subjects (see ``residue``)."""
    created: list[str] = []
    yield created
    if created:
        admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
        for future in admin.delete_topics(created, operation_timeout=30).values():
            future.exception(timeout=30)  # a topic that was never created is fine
    residue.extend(created)


@pytest.fixture
def database(stack: Settings, no_residue: None) -> Iterator[str]:
    """A new, empty database (dropped afterwards, with any replication slot on it)."""
    name = unique_name("stack_test")
    pg = stack.postgres
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s AND NOT active",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def connectors(
    stack: Settings, connect: ConnectRest, database: str, residue: list[str]
) -> Iterator[list[tuple[str, str]]]:
    """``(connector, replication slot)`` pairs a test registers on ``database``.

    Afterwards each connector is deleted and, once Postgres sees its slot released, the slot
    is dropped: a forgotten slot would pin WAL forever.
    """
    registered: list[tuple[str, str]] = []
    yield registered
    for name, slot in registered:
        connect.delete(name)
        eventually(partial(_drop_released_slot, stack, slot), timeout=60)


def _drop_released_slot(stack: Settings, slot: str) -> None:
    with psycopg.connect(stack.postgres.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
        if row is None:
            return
        assert not row[0], f"replication slot {slot} still in use"
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
