"""``publish()``: write one event into the outbox, inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from eventing.conf import eventing_settings
from eventing.events import AVRO_CONTENT_TYPE, CLOUDEVENTS_SPECVERSION, EventType
from eventing.exceptions import ConfigurationError, NotInTransaction
from eventing.outbox.models import OutboxEvent
from eventing.runtime import runtime
from eventing.serialization.avro import AvroCodec
from eventing.tracing import current_traceparent, new_root

_TABLE = OutboxEvent._meta.db_table
_INSERT = (
    f"INSERT INTO {_TABLE} (id, topic, key, type, source, specversion, time, content_type,"
    " dataschema, traceparent, payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_AND_DELETE = f"{_INSERT}; DELETE FROM {_TABLE} WHERE id = %s"


def format_time(moment: datetime) -> str:
    """RFC 3339 text in UTC with microseconds, e.g. ``2026-11-25T01:42:52.123456Z``."""
    if moment.tzinfo is None:
        raise ConfigurationError("Event time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: ``ce_dataschema`` when ``EVENTING["DATASCHEMA_BASE"]`` is unset: names the registry schema
#: id without naming a host (a URL to this machine's registry would resolve nowhere else).
DATASCHEMA_URN = "urn:schema-registry:ids:{id}"


def dataschema(schema_id: int) -> str:
    """The ``ce_dataschema`` of an event whose payload was written with ``schema_id``.

    ``<DATASCHEMA_BASE>/schemas/ids/<id>`` (resolvable through the registry's Confluent API)
    when a public base is configured, else ``urn:schema-registry:ids:<id>``.
    """
    base = eventing_settings.DATASCHEMA_BASE
    if base:
        return f"{str(base).rstrip('/')}/schemas/ids/{schema_id}"
    return DATASCHEMA_URN.format(id=schema_id)


def publish(
    event_type: EventType,
    data: Mapping[str, Any],
    *,
    key: str | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> uuid.UUID:
    """Record ``data`` as an event of ``event_type`` in the outbox; return the event id.

    Must run inside ``transaction.atomic()`` on ``using``: the event commits if and only if
    the caller's change commits (Debezium delivers it from the WAL, at least once; consumers
    deduplicate on the id). No network I/O happens here: the schema id was resolved at
    start-up, and serialization is CPU-only. Raises :class:`NotInTransaction` outside a
    transaction and :class:`SchemaNotRegistered` if start-up did not resolve the schema.
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        raise NotInTransaction(
            "publish() must be called inside transaction.atomic()",
            context={"event_type": event_type.type},
        )
    source = eventing_settings.SOURCE
    if not source:
        raise ConfigurationError("EVENTING['SOURCE'] must be set to publish events")
    resolved = runtime.resolved(event_type)
    payload = AvroCodec.encode(resolved.schema_id, resolved.parsed, data)
    event_id = event_id or uuid.uuid4()
    params: list[Any] = [
        event_id,
        event_type.topic,
        key if key is not None else event_type.key_for(data),
        event_type.type,
        source,
        CLOUDEVENTS_SPECVERSION,
        format_time(time or datetime.now(UTC)),
        AVRO_CONTENT_TYPE,
        dataschema(resolved.schema_id),
        traceparent or current_traceparent() or new_root(),
        payload,
    ]
    with connection.cursor() as cursor:
        if not eventing_settings.OUTBOX_DELETE_AFTER_INSERT:
            cursor.execute(_INSERT, params)
        elif _binds_client_side(connection):
            # One round trip for both statements.
            cursor.execute(_INSERT_AND_DELETE, [*params, event_id])
        else:
            cursor.execute(_INSERT, params)
            cursor.execute(f"DELETE FROM {_TABLE} WHERE id = %s", [event_id])
    transaction.on_commit(partial(_count_published, event_type.topic, event_type.type), using=using)
    return event_id


def _count_published(topic: str, type_name: str) -> None:
    from eventing.metrics import count_published

    count_published(topic, type_name)


def _binds_client_side(connection: Any) -> bool:
    """Whether one ``execute`` may carry several statements with parameters.

    Django's psycopg 3 backend binds parameters client-side unless the database OPTIONS
    ask for ``server_side_binding``; the extended protocol allows one statement only.
    """
    options = connection.settings_dict.get("OPTIONS", {})
    return connection.vendor == "postgresql" and not options.get("server_side_binding")
