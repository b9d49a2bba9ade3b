"""Debezium change events, Avro-encoded by the Connect converter, decoded in Python.

This is the interop the services rely on: Apicurio's Connect ``AvroConverter`` writes
Confluent-framed Avro with content ids; confluent-kafka's ``AvroDeserializer`` resolves them
through the ccompat API. The connector is the one the orders service ships (``orders-cdc``,
``eventing.connect.debezium.table_capture_connector``, read from the service's own settings as
the stack applies it), pointed at a scratch table: its converter and transforms are what is
tested, not a copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from stack.services import SERVICES, service_env
from stack.settings import Settings
from stack.testing import eventually, unique_name
from tests.infra.helpers import ConnectRest, consume

pytestmark = pytest.mark.integration

TABLE = "widget"
REPO = Path(__file__).resolve().parents[2]


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
        conn.execute(f"ALTER TABLE {TABLE} REPLICA IDENTITY FULL")  # as the orders table has
        # the table the connector's heartbeat writes to (the library's migrations create it)
        conn.execute("CREATE TABLE eventing_heartbeat (id smallint PRIMARY KEY, beat_at timestamptz)")
    # and a registry whose global ids differ from its content ids (the same content under
    # two subjects), so a converter writing the wrong kind of id would be caught
    duplicate = unique_name("stack_dup")
    residue.append(duplicate)
    _register_twice(registry_client, duplicate)

    # When the orders service's table-capture connector captures it
    name = unique_name("stack_dbz")
    residue.append(name)  # its topics (the heartbeat's too), the reader's group, the subjects
    topic = f"{name}_changes"
    topics.append(topic)
    config = shipped_table_capture(stack, database=database, table=TABLE, name=name, topic=topic)
    connectors.append((name, config["slot.name"]))
    connect.put_config(name, config)
    eventually(lambda: connect.assert_running(name), timeout=60)
    eventually(lambda: _assert_slot_active(stack, config["slot.name"]), timeout=60)

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

    # and they decode in Python to the rows written (flattened, with the change's operation and
    # WAL position), in order per row (the key)
    decode = AvroDeserializer(registry_client)
    by_row: dict[int, list[dict[str, Any]]] = {}
    for message, value in zip(messages, values, strict=True):
        row_id = json.loads(message.key() or b"null")["id"]
        by_row.setdefault(row_id, []).append(decode(value, context))
    bolt, nut = (by_row[row_id] for row_id in sorted(by_row))
    assert [(e["__op"], e["name"], e["qty"], e["price"]) for e in bolt] == [
        ("c", "bolt", 1, Decimal("9.99")),
        ("u", "bolt", 2, Decimal("9.99")),
    ]
    assert bolt[0]["__lsn"] < bolt[1]["__lsn"]  # the version the read models guard on
    # ...and a delete carries the row as it was, marked deleted (REPLICA IDENTITY FULL)
    assert [(e["__op"], e["__deleted"]) for e in nut] == [("c", "false"), ("d", "true")]
    assert [(e["id"], e["qty"], e["price"]) for e in nut] == [(nut[0]["id"], 5, Decimal("0.25"))] * 2


def shipped_table_capture(
    stack: Settings, *, database: str, table: str, name: str, topic: str
) -> dict[str, str]:
    """The orders service's ``orders-cdc`` config as the stack applies it, on another table.

    Only what names the captured table and the connector's own resources changes: database,
    table list, topic prefix, slot, publication and the routed topic.
    """
    (orders,) = [s for s in SERVICES if s.name == "orders"]
    introspected = subprocess.run(  # what deploy/tools/generate.py reads too
        [sys.executable, str(REPO / "deploy" / "tools" / "introspect.py")],
        cwd=orders.directory,
        env={**os.environ, **service_env(stack, orders)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    shipped = json.loads(introspected.stdout)["connectors"]
    (config,) = [c["config"] for c in shipped if c["name"] == "orders-cdc"]
    prefix, slug = config["topic.prefix"], name.replace("-", "_")
    assert config["table.include.list"].startswith("public.orders_order,"), config["table.include.list"]
    return {
        **config,
        "database.dbname": database,
        "table.include.list": config["table.include.list"].replace("public.orders_order", f"public.{table}"),
        "topic.prefix": slug,
        "slot.name": slug,
        "publication.name": f"{slug}_pub",
        "transforms.route.regex": config["transforms.route.regex"].replace(prefix, slug),
        "transforms.route.replacement": topic,
    }


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
