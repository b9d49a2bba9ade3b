"""Version-guarded, idempotent writes to the read model, for the event handlers.

Every function is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE stored.version <
incoming.version`` statement: a redelivered or stale event changes nothing, and two
processes applying events for one key cannot interleave badly. The functions run
inside the caller's transaction (the handler's, which also records the event id),
without a savepoint of their own.

They write to the tables :func:`read_model_tables` names: the live ``points_customer`` /
``points_order``, or, inside :func:`writing_to`, other tables of the same structure (the
shadow tables a rebuild fills, ``points.rebuild``). Every write of the read model must go
through here, so that a rebuild runs the very handlers the live consumer runs.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, NamedTuple, TypeVar

from django.db import connection, transaction


class ReadModelTables(NamedTuple):
    """The names of one copy of the read model's tables."""

    customer: str
    order: str


#: The tables the service reads and the live consumer writes.
LIVE_TABLES = ReadModelTables("points_customer", "points_order")
_tables: ContextVar[ReadModelTables] = ContextVar("points_read_model_tables", default=LIVE_TABLES)


def read_model_tables() -> ReadModelTables:
    """The tables the functions of this module write to now."""
    return _tables.get()


@contextlib.contextmanager
def writing_to(tables: ReadModelTables) -> Iterator[None]:
    """Within the block, write to ``tables`` instead of the live ones."""
    token = _tables.set(tables)
    try:
        yield
    finally:
        _tables.reset(token)


class CustomerStateRow(NamedTuple):
    customer_id: uuid.UUID
    version: int
    deleted: bool = False


class OrderStateRow(NamedTuple):
    order_id: uuid.UUID
    customer_id: uuid.UUID
    item_count: int
    version: int
    deleted: bool = False


_CUSTOMER_UPSERT = """
    INSERT INTO {table} AS stored (customer_id, version, deleted, updated_at)
    {source}
    ON CONFLICT (customer_id) DO UPDATE
       SET version = EXCLUDED.version,
           deleted = EXCLUDED.deleted,
           updated_at = EXCLUDED.updated_at
     WHERE stored.version < EXCLUDED.version
"""
_CUSTOMER_ONE = _CUSTOMER_UPSERT.replace("{source}", "VALUES (%s, %s, %s, now())")
_CUSTOMER_MANY = _CUSTOMER_UPSERT.replace(
    "{source}",
    """SELECT customer_id, version, deleted, now()
                FROM unnest(%s::uuid[], %s::bigint[], %s::boolean[])
                  AS incoming (customer_id, version, deleted)""",
)

_ORDER_UPSERT = """
    INSERT INTO {table} AS stored
           (order_id, customer_id, item_count, version, deleted, updated_at)
    {source}
    ON CONFLICT (order_id) DO UPDATE
       SET customer_id = EXCLUDED.customer_id,
           item_count = EXCLUDED.item_count,
           version = EXCLUDED.version,
           deleted = EXCLUDED.deleted,
           updated_at = EXCLUDED.updated_at
     WHERE stored.version < EXCLUDED.version
"""
_ORDER_ONE = _ORDER_UPSERT.replace("{source}", "VALUES (%s, %s, %s, %s, %s, now())")
_ORDER_MANY = _ORDER_UPSERT.replace(
    "{source}",
    """SELECT order_id, customer_id, item_count, version, deleted, now()
                FROM unnest(%s::uuid[], %s::uuid[], %s::bigint[], %s::bigint[],
                            %s::boolean[])
                  AS incoming (order_id, customer_id, item_count, version, deleted)""",
)


def _customer_sql(template: str) -> str:
    return template.replace("{table}", connection.ops.quote_name(read_model_tables().customer))


def _order_sql(template: str) -> str:
    return template.replace("{table}", connection.ops.quote_name(read_model_tables().order))


def _execute(sql: str, params: Sequence[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


@transaction.atomic(savepoint=False)
def customer_state_apply(*, customer_id: uuid.UUID, version: int) -> bool:
    return _execute(_customer_sql(_CUSTOMER_ONE), (customer_id, version, False)) == 1


@transaction.atomic(savepoint=False)
def customer_delete_apply(*, customer_id: uuid.UUID, version: int) -> bool:
    return _execute(_customer_sql(_CUSTOMER_ONE), (customer_id, version, True)) == 1


@transaction.atomic(savepoint=False)
def order_state_apply(*, order_id: uuid.UUID, customer_id: uuid.UUID, item_count: int, version: int) -> bool:
    params = (order_id, customer_id, item_count, version, False)
    return _execute(_order_sql(_ORDER_ONE), params) == 1


@transaction.atomic(savepoint=False)
def order_delete_apply(*, order_id: uuid.UUID, customer_id: uuid.UUID, item_count: int, version: int) -> bool:
    params = (order_id, customer_id, item_count, version, True)
    return _execute(_order_sql(_ORDER_ONE), params) == 1


_Row = TypeVar("_Row", CustomerStateRow, OrderStateRow)


def _latest_per_key(rows: Iterable[_Row], key: Callable[[_Row], uuid.UUID]) -> list[_Row]:
    """The highest version of each key, sorted by key.

    One statement cannot update a row twice (ON CONFLICT would fail), and a fixed
    key order makes concurrent batches lock rows in the same order (no deadlock).
    """
    latest: dict[uuid.UUID, _Row] = {}
    for row in rows:
        k = key(row)
        current = latest.get(k)
        if current is None or row.version >= current.version:
            latest[k] = row
    return [latest[k] for k in sorted(latest)]


@transaction.atomic(savepoint=False)
def customer_states_apply_many(rows: Sequence[CustomerStateRow]) -> int:
    """Apply many customer states and deletions in one statement.

    Returns how many rows changed.
    """
    batch = _latest_per_key(rows, key=lambda row: row.customer_id)
    if not batch:
        return 0
    customer_ids, versions, deleted = zip(*batch, strict=True)
    return _execute(_customer_sql(_CUSTOMER_MANY), (list(customer_ids), list(versions), list(deleted)))


@transaction.atomic(savepoint=False)
def order_states_apply_many(rows: Sequence[OrderStateRow]) -> int:
    """Apply many order states and deletions in one statement.

    Returns how many rows changed.
    """
    batch = _latest_per_key(rows, key=lambda row: row.order_id)
    if not batch:
        return 0
    columns = [list(column) for column in zip(*batch, strict=True)]
    return _execute(_order_sql(_ORDER_MANY), columns)
