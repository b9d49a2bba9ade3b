"""Debezium change events, Avro-encoded by the Connect converter, decoded in Python.

This is the interop the services rely on: Apicurio's Connect ``AvroConverter`` writes
Confluent-framed Avro with content ids; confluent-kafka's ``AvroDeserializer`` resolves them
through the ccompat API.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from stack.settings import Settings
from stack.testing import eventually, unique_name
from tests.infra.helpers import ConnectRest, consume, debezium_avro_config

pytestmark = pytest.mark.integration

TABLE = "widget"


def test_debezium_avro_change_events_decode_in_python(
    stack: Settings,
    registry_client: SchemaRegistryClient,
    connect: ConnectRest,
    database: str,
    connectors: list[tuple[str, str]],
    topics: list[str],
    residue: list[str],
) -> None:
    # Given a table in a fresh database
    conninfo = stack.postgres.conninfo(database)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {TABLE} (id serial PRIMARY KEY, name text NOT NULL, qty int, price numeric(10, 2))"
        )
    # and a registry whose global ids differ from its content ids (the same content under
    # two subjects), so a converter writing the wrong kind of id would be caught
    duplicate = unique_name("stack_dup")
    residue.append(duplicate)
    _register_twice(registry_client, duplicate)

    # When a Debezium connector with Avro values captures it
    name = unique_name("stack_dbz")
    residue.append(name)  # its topics (the heartbeat's too), the reader's group, the subjects
    topic = f"{name}.public.{TABLE}"
    topics.append(topic)
    connectors.append((name, name))
    connect.put_config(
        name, debezium_avro_config(stack, database=database, table=TABLE, prefix=name, slot=name)
    )
    eventually(lambda: connect.assert_running(name), timeout=60)
    eventually(lambda: _assert_slot_active(stack, name), timeout=60)

    # and rows are inserted, updated and deleted
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {TABLE} (name, qty, price) VALUES ('bolt', 1, 9.99)")
        conn.execute(f"INSERT INTO {TABLE} (name, qty, price) VALUES ('nut', 5, 0.25)")
        conn.execute(f"UPDATE {TABLE} SET qty = 2 WHERE name = 'bolt'")
        conn.execute(f"DELETE FROM {TABLE} WHERE name = 'nut'")

    # Then four change events arrive, Confluent-framed with the subject's content id
    messages = consume(stack, topic, 4)
    context = SerializationContext(topic, MessageField.VALUE)
    latest_id = registry_client.get_latest_version(f"{topic}-value").schema_id
    values = [m.value() or b"" for m in messages]
    assert {(v[0], int.from_bytes(v[1:5], "big")) for v in values} == {(0, latest_id)}

    # and they decode in Python to the values written, in order per row (the key)
    decode = AvroDeserializer(registry_client)
    by_row: dict[int, list[dict[str, Any]]] = {}
    for message, value in zip(messages, values, strict=True):
        row_id = json.loads(message.key() or b"null")["id"]
        by_row.setdefault(row_id, []).append(decode(value, context))
    bolt, nut = (by_row[row_id] for row_id in sorted(by_row))
    assert [(e["op"], e["after"]["name"], e["after"]["qty"], e["after"]["price"]) for e in bolt] == [
        ("c", "bolt", 1, Decimal("9.99")),
        ("u", "bolt", 2, Decimal("9.99")),
    ]
    assert [e["op"] for e in nut] == ["c", "d"]
    assert (nut[0]["after"]["qty"], nut[0]["after"]["price"]) == (5, Decimal("0.25"))
    assert nut[1]["after"] is None
    assert nut[1]["before"]["id"] == nut[0]["after"]["id"]


def _register_twice(client: SchemaRegistryClient, name: str) -> None:
    schema = Schema(
        json.dumps({"type": "record", "name": name, "fields": [{"name": "x", "type": "int"}]}),
        "AVRO",
    )
    for subject in (f"{name}-a", f"{name}-b"):
        client.register_schema(subject, schema)


def _assert_slot_active(stack: Settings, slot: str) -> None:
    with psycopg.connect(stack.postgres.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    assert row is not None, f"replication slot {slot} not created yet"
    assert row[0], f"replication slot {slot} not streaming yet"
