"""``publish()``: write one event into the outbox, inside the caller's transaction.

The data is a mapping (the Avro datum) or a typed record (``event_contracts``), converted
to the datum once, when it is encoded.

``publish_many()`` writes many (e.g. all the events a batch handler derives from one
consumer batch) with one ``COPY`` instead of one ``INSERT`` per event.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from eventing.bulk import bulk_cursor
from eventing.conf import eventing_settings
from eventing.events import AVRO_CONTENT_TYPE, CLOUDEVENTS_SPECVERSION, EventType
from eventing.exceptions import ConfigurationError, NotInTransaction
from eventing.outbox.models import OutboxEvent
from eventing.runtime import ResolvedSchema, runtime
from eventing.serialization.avro import AvroCodec
from eventing.tracing import current_traceparent, new_root

if TYPE_CHECKING:
    from eventing.serialization.records import Record

_TABLE = OutboxEvent._meta.db_table
_COLUMNS = "id, topic, key, type, source, specversion, time, content_type, dataschema, traceparent, payload"
_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
_INSERT = f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES {_ROW}"
_INSERT_AND_DELETE = f"{_INSERT}; DELETE FROM {_TABLE} WHERE id = %s"
#: ``publish_many`` writes its rows with ``COPY`` (no conflict handling: an id already in
#: the outbox fails the transaction, as ``publish`` does).
_COPY = f"COPY {_TABLE} ({_COLUMNS}) FROM STDIN"


def format_time(moment: datetime) -> str:
    """RFC 3339 text in UTC with microseconds, e.g. ``2026-11-25T01:42:52.123456Z``."""
    if moment.tzinfo is None:
        raise ConfigurationError("Event time must be timezone-aware")
    # isoformat is ~3x cheaper than strftime (a hot path of the batch translator); with
    # timespec="microseconds" it always has the fraction and ends with "+00:00" in UTC.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


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


@dataclass(frozen=True)
class Outgoing:
    """One event for :func:`publish_many`: the arguments :func:`publish` takes."""

    event_type: EventType[Any]
    data: Mapping[str, Any] | Record
    key: str | None = None
    event_id: uuid.UUID | None = None
    time: datetime | None = None
    traceparent: str | None = None


def publish(
    event_type: EventType[Any],
    data: Mapping[str, Any] | Record,
    *,
    key: str | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> uuid.UUID:
    """Record ``data`` as an event of ``event_type`` in the outbox; return the event id.

    ``data`` is the Avro datum as a mapping, or a typed record (e.g. ``OrderState``).

    Must run inside ``transaction.atomic()`` on ``using``: the event commits if and only if
    the caller's change commits (Debezium delivers it from the WAL, at least once; consumers
    deduplicate on the id). No network I/O happens here: the schema id was resolved at
    start-up, and serialization is CPU-only. Raises :class:`NotInTransaction` outside a
    transaction and :class:`SchemaNotRegistered` if start-up did not resolve the schema.
    """
    connection = _connection_in_transaction(using, event_type)
    outgoing = Outgoing(event_type, data, key, event_id or uuid.uuid4(), time, traceparent)
    params = _row(outgoing, _source(), datetime.now(UTC))
    event_id = params[0]
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


def publish_many(events: Sequence[Outgoing], *, using: str = DEFAULT_DB_ALIAS) -> list[uuid.UUID]:
    """Record ``events`` in the outbox, in order, with one ``COPY`` (see :mod:`eventing.bulk`).

    The same contract as :func:`publish` (inside ``transaction.atomic()``, CPU-only, all or
    nothing with the caller's transaction), for a batch: rows get the same columns, ids and
    headers that as many ``publish`` calls would give them, and keep their order (in the
    WAL, which is what Debezium reads, and in ``created_at``, ``clock_timestamp()`` per row).
    Returns the event ids, in input order.
    """
    if not events:
        return []
    _connection_in_transaction(using, events[0].event_type)
    source, now = _source(), datetime.now(UTC)
    schemas: dict[str, tuple[ResolvedSchema, str]] = {}
    rows = [_row(e, source, now, schemas) for e in events]
    ids: list[uuid.UUID] = [row[0] for row in rows]
    with bulk_cursor(using) as cursor:
        with cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)
        if eventing_settings.OUTBOX_DELETE_AFTER_INSERT:
            cursor.execute(f"DELETE FROM {_TABLE} WHERE id = ANY(%b)", [ids])
    counts = Counter((e.event_type.topic, e.event_type.type) for e in events)
    for (topic, type_name), count in counts.items():
        transaction.on_commit(partial(_count_published, topic, type_name, count), using=using)
    return ids


def _connection_in_transaction(using: str, event_type: EventType[Any]) -> Any:
    connection = connections[using]
    if not connection.in_atomic_block:
        raise NotInTransaction(
            "publish() must be called inside transaction.atomic()",
            context={"event_type": event_type.type},
        )
    return connection


def _source() -> str:
    source = eventing_settings.SOURCE
    if not source:
        raise ConfigurationError("EVENTING['SOURCE'] must be set to publish events")
    return str(source)


def _row(
    event: Outgoing, source: str, now: datetime, schemas: dict[str, tuple[ResolvedSchema, str]] | None = None
) -> list[Any]:
    """The outbox row of ``event`` as statement parameters (the id first).

    ``schemas`` caches each event type's resolved schema and ``ce_dataschema`` for a batch.
    """
    event_type = event.event_type
    cached = schemas.get(event_type.type) if schemas is not None else None
    if cached is None:
        resolved = runtime.resolved(event_type)
        cached = (resolved, dataschema(resolved.schema_id))
        if schemas is not None:
            schemas[event_type.type] = cached
    resolved, schema_uri = cached
    return [
        event.event_id or uuid.uuid4(),
        event_type.topic,
        event.key if event.key is not None else event_type.key_for(event.data),
        event_type.type,
        source,
        CLOUDEVENTS_SPECVERSION,
        format_time(event.time or now),
        AVRO_CONTENT_TYPE,
        schema_uri,
        event.traceparent or current_traceparent() or new_root(),
        AvroCodec.encode(resolved.schema_id, resolved.parsed, event.data),
    ]


def _count_published(topic: str, type_name: str, count: int = 1) -> None:
    from eventing.metrics import count_published

    count_published(topic, type_name, count)


def _binds_client_side(connection: Any) -> bool:
    """Whether one ``execute`` may carry several statements with parameters.

    Django's psycopg 3 backend binds parameters client-side unless the database OPTIONS
    ask for ``server_side_binding``; the extended protocol allows one statement only.
    """
    options = connection.settings_dict.get("OPTIONS", {})
    return connection.vendor == "postgresql" and not options.get("server_side_binding")
