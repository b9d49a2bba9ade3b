"""Debezium Postgres connector configurations.

Two shapes, one per way of producing events:

* :func:`outbox_connector` reads the ``eventing_outbox`` table and routes each row with the
  EventRouter to the topic named in its ``topic`` column. The payload column already holds
  Confluent-framed Avro, so values pass through ``BinaryDataConverter`` untouched, and the
  CloudEvents attributes become headers (``table.fields.additional.placement``). Every
  header has a value (``publish()`` fills every placed column) and the EventRouter's own
  ``id`` header and Debezium's ``__debezium.context.*`` headers are dropped, so a record
  carries exactly the CloudEvents binary-mode headers plus ``traceparent``.
* :func:`table_capture_connector` captures domain tables into a private topic, flattened
  (``ExtractNewRecordState``) and Avro-encoded by the registry-aware converter.

Both give the replication slot a heartbeat: ``heartbeat.action.query`` writes the
``eventing_heartbeat`` row so an idle database still produces WAL the slot can confirm,
and the slot never pins WAL without bound. The heartbeat table's own change records are
filtered out before they reach any topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from eventing.connect.converters import ApicurioAvroConverter, AvroConverterStrategy
from eventing.outbox.models import Heartbeat, OutboxEvent

HEARTBEAT_QUERY = (
    f"INSERT INTO {Heartbeat._meta.db_table} (id, beat_at) VALUES (1, now()) "
    "ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at"
)
#: Rows the outbox heartbeat purges at most per beat (one beat every heartbeat.interval.ms).
OUTBOX_PURGE_CHUNK = 50_000


def outbox_heartbeat_query(retention: float) -> str:
    """The heartbeat that also purges outbox rows older than ``retention`` seconds.

    It runs only while the connector streams, so rows written while it is down (or its slot
    lost) are never purged before they were read or re-emitted.
    """
    table = OutboxEvent._meta.db_table
    return (
        f"WITH purged AS (DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} "
        f"WHERE created_at < now() - interval '{int(retention)} seconds' LIMIT {OUTBOX_PURGE_CHUNK}))) "
        f"{HEARTBEAT_QUERY}"
    )


#: CloudEvents headers from outbox columns (column:header:name).
OUTBOX_HEADER_PLACEMENT = ",".join(
    [
        "specversion:header:ce_specversion",
        "id:header:ce_id",
        "source:header:ce_source",
        "type:header:ce_type",
        "time:header:ce_time",
        "content_type:header:content-type",
        "dataschema:header:ce_dataschema",
        "traceparent:header:traceparent",
        "key:header:ce_partitionkey",
    ]
)


@dataclass(frozen=True)
class DatabaseEndpoint:
    """Where the Connect worker reaches the captured database."""

    host: str
    port: int
    dbname: str
    user: str
    password: str

    @classmethod
    def from_django(
        cls, settings_dict: dict[str, Any], *, host: str | None = None, port: int | None = None
    ) -> DatabaseEndpoint:
        """From ``settings.DATABASES[alias]``; ``host``/``port`` override for a remote worker."""
        return cls(
            host=host or settings_dict.get("HOST") or "127.0.0.1",
            port=int(port or settings_dict.get("PORT") or 5432),
            dbname=str(settings_dict["NAME"]),
            user=str(settings_dict.get("USER") or "postgres"),
            password=str(settings_dict.get("PASSWORD") or ""),
        )


@dataclass(frozen=True)
class Connector:
    """A named connector configuration, applied with ``ConnectClient.apply``."""

    name: str
    config: dict[str, str] = field(default_factory=dict)


def _slug(name: str) -> str:
    """A replication slot / publication name: lowercase letters, digits, underscores."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def _common(name: str, db: DatabaseEndpoint, tables: list[str]) -> dict[str, str]:
    slug = _slug(name)
    heartbeat = f"public.{Heartbeat._meta.db_table}"
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": db.host,
        "database.port": str(db.port),
        "database.user": db.user,
        "database.password": db.password,
        "database.dbname": db.dbname,
        "topic.prefix": slug,
        "slot.name": slug,
        "publication.name": f"{slug}_pub",
        "publication.autocreate.mode": "filtered",
        "table.include.list": ",".join([*tables, heartbeat]),
        "heartbeat.interval.ms": "10000",
        # How long the task waits for changes to gather before a batch (default 500 ms):
        # each hop through Debezium otherwise adds up to half a second of latency (10 ms: measured
        # 35 ms p50 per hop at 50, benchmarks/bench_convergence.py).
        "poll.interval.ms": "10",
        "heartbeat.action.query": HEARTBEAT_QUERY,
        "topic.heartbeat.prefix": "__debezium-heartbeat",
        "schema.name.adjustment.mode": "avro",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        # Heartbeat-table changes only exist to move the slot; drop them.
        "predicates": "isHeartbeatTable",
        "predicates.isHeartbeatTable.type": (
            "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"
        ),
        "predicates.isHeartbeatTable.pattern": rf".*\.{Heartbeat._meta.db_table}",
        "transforms": "dropHeartbeats",
        "transforms.dropHeartbeats.type": "org.apache.kafka.connect.transforms.Filter",
        "transforms.dropHeartbeats.predicate": "isHeartbeatTable",
        "topic.creation.default.replication.factor": "-1",
        "topic.creation.default.partitions": "-1",
        # No __debezium.context.* headers (connector name, task id, run id) on every record:
        # no consumer needs them, and they tie each event to one Connect deployment.
        "extended.headers.enabled": "false",
    }


def outbox_connector(name: str, db: DatabaseEndpoint, *, retention: float = 24 * 3600) -> Connector:
    """The outbox connector of one service database (EventRouter, pass-through values).

    Its heartbeat purges outbox rows older than ``retention`` seconds (``OUTBOX_RETENTION``).
    """
    outbox = f"public.{OutboxEvent._meta.db_table}"
    config = _common(name, db, [outbox])
    config.update(
        {
            "heartbeat.action.query": outbox_heartbeat_query(retention),
            "snapshot.mode": "no_data",  # outbox rows are events, not state to snapshot
            "tombstones.on.delete": "false",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "io.debezium.converters.BinaryDataConverter",
            # Delegate for records that are not bytes (Debezium heartbeats).
            "value.converter.delegate.converter.type": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.delegate.converter.type.schemas.enable": "false",
            "predicates": "isHeartbeatTable,isOutbox",
            "predicates.isOutbox.type": ("org.apache.kafka.connect.transforms.predicates.TopicNameMatches"),
            "predicates.isOutbox.pattern": rf".*\.{OutboxEvent._meta.db_table}",
            "transforms": "dropHeartbeats,outbox,dropEventIdHeader",
            "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
            "transforms.outbox.predicate": "isOutbox",
            "transforms.outbox.table.field.event.id": "id",
            "transforms.outbox.table.field.event.key": "key",
            "transforms.outbox.table.field.event.payload": "payload",
            "transforms.outbox.route.by.field": "topic",
            "transforms.outbox.route.topic.replacement": "${routedByValue}",
            "transforms.outbox.table.fields.additional.placement": OUTBOX_HEADER_PLACEMENT,
            "transforms.outbox.table.op.invalid.behavior": "warn",
            # The EventRouter always adds the event id as an `id` header; it is ce_id already.
            "transforms.dropEventIdHeader.type": "org.apache.kafka.connect.transforms.DropHeaders",
            "transforms.dropEventIdHeader.headers": "id",
        }
    )
    return Connector(name=name, config=config)


def table_capture_connector(
    name: str,
    db: DatabaseEndpoint,
    *,
    tables: list[str],
    topic: str,
    registry_url: str,
    converter: AvroConverterStrategy | None = None,
) -> Connector:
    """Capture ``tables`` into ``topic``: flattened row state, Avro through the registry.

    Records carry the row after the change plus ``__op`` (c/u/d/r), ``__lsn`` (WAL position,
    monotonic per database: a version for stale-event guards and a stable id for dedup) and
    ``__deleted``; a delete carries the row as it was (the table needs REPLICA IDENTITY FULL).
    ``converter`` serializes the values (``eventing.connect.converters``; default Apicurio's),
    talking to ``registry_url`` (for Apicurio its v2 REST API, ``.../apis/registry/v2``).
    """
    config = _common(name, db, tables)
    config.update(
        {
            "snapshot.mode": "initial",
            "tombstones.on.delete": "false",
            **(converter or ApicurioAvroConverter()).value_converter(registry_url),
            "transforms": "dropHeartbeats,unwrap,route",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
            "transforms.unwrap.delete.tombstone.handling.mode": "rewrite",
            "transforms.unwrap.add.fields": "op,lsn,source.ts_ms",
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            # Only the tables' topics (<prefix>.<schema>.<table>); Debezium's own heartbeat
            # records (__debezium-heartbeat.<prefix>) keep their topic.
            "transforms.route.regex": rf"{re.escape(_slug(name))}\..*",
            "transforms.route.replacement": topic,
        }
    )
    return Connector(name=name, config=config)
