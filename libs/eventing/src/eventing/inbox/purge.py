"""Keeping the inbox bounded: delete rows older than the retention, in small chunks."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from eventing.inbox.models import InboxEntry

logger = logging.getLogger(__name__)

_TABLE = InboxEntry._meta.db_table


def purge_inbox(
    *,
    older_than: float,
    group: str | None = None,
    chunk: int = 10_000,
    using: str = DEFAULT_DB_ALIAS,
) -> int:
    """Delete inbox rows processed more than ``older_than`` seconds ago; return the count.

    Works in chunks so that no long transaction holds locks. Safe because events that old
    are not redelivered in normal operation, and handlers additionally guard on aggregate
    versions, so a very late redelivery cannot overwrite newer state.
    """
    where = "processed_at < now() - make_interval(secs => %s)"
    params: list[Any] = [older_than]
    if group is not None:
        where += " AND consumer_group = %s"
        params.append(group)
    total = 0
    while True:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {_TABLE} WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {_TABLE} WHERE {where} LIMIT %s))",
                [*params, chunk],
            )
            deleted = int(cursor.rowcount)
        total += deleted
        if deleted < chunk:
            break
    if total:
        logger.info("purged inbox rows", extra={"deleted": total, "group": group})
    return total


def purge_outbox(*, older_than: float, using: str = DEFAULT_DB_ALIAS) -> int:
    """Delete kept outbox rows older than ``older_than`` seconds (when not deleted on insert).

    Debezium reads rows from the WAL at insert time, so a row's presence in the table is
    not needed for delivery; keeping them for a while only helps inspection.
    """
    from eventing.outbox.models import OutboxEvent

    table = OutboxEvent._meta.db_table
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE created_at < now() - make_interval(secs => %s)",
            [older_than],
        )
        return int(cursor.rowcount)
