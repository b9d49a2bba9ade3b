"""Rebuilding the read model from the topics while the live one keeps serving (decision 0014).

1. **Shadow tables.** ``points_customer_rebuild`` / ``points_order_rebuild`` are created
   ``LIKE`` the live tables (``INCLUDING ALL``: columns, defaults, indexes, constraints).
2. **Catch up.** An :class:`eventing.replay.TopicReplay` reads the live group's topics from
   their beginning (no consumer group, no inbox) and runs the live group's own handlers with
   :func:`points.services.writing_to` pointing them at the shadow tables, up to the end
   offsets, again until the rest is small.
3. **Compare, in one transaction.** ``LOCK TABLE points_customer, points_order IN SHARE
   MODE`` (the live consumer's writes wait, the API's reads go on), read the end offsets
   *now*, replay up to them, compare live and rebuilt (rows, awards), commit.
4. **The cut, in one transaction.** ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` (the API's
   reads wait too), read the end offsets *now*, replay up to them, rename live -> ``*_old``
   and shadow -> live (indexes and constraints too, so the schema keeps the names Django's
   migrations know), commit. Exact: the live consumer cannot have applied an event past offsets read
   while it is locked out (it reads only what Kafka already holds), and what it applies
   afterwards lands in the new tables by name; the handlers are version-guarded upserts, so
   the events between its position and the cut, applied by both, change nothing twice.
   The inbox is shared and untouched.

A dry run stops after step 3: nothing swapped, the shadow tables stay for inspection. The
comparison counts, besides damage, the events the live consumer had not applied yet.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from django.db import OperationalError, connection, transaction
from django.db.backends.utils import CursorWrapper

from eventing.replay import Offsets, ReplayStats, TopicReplay
from points.selectors import ITEMS_PER_POINT
from points.services import LIVE_TABLES, ReadModelTables, writing_to

logger = logging.getLogger(__name__)

#: The consumer group whose handlers build the read model.
GROUP = "points.read-model"
SHADOW_TABLES = ReadModelTables("points_customer_rebuild", "points_order_rebuild")
OLD_TABLES = ReadModelTables("points_customer_old", "points_order_old")


class RebuildRefused(Exception):
    """The rebuild would not be exact or would destroy something; nothing was changed."""


class LockNotAcquired(Exception):
    """The live tables stayed locked by someone else for longer than the lock timeout."""


@dataclass(frozen=True)
class AwardDifference:
    customer_id: uuid.UUID
    before: float | None  # None: unknown or deleted
    after: float | None


@dataclass(frozen=True)
class Comparison:
    """Two copies of the read model (``before``: the live one at the cut) side by side."""

    customers: tuple[int, int]
    orders: tuple[int, int]
    customers_differing: int
    orders_differing: int
    awards_differing: int
    examples: list[AwardDifference] = field(default_factory=list)


@dataclass
class RebuildResult:
    swapped: bool
    cut: Offsets
    stats: ReplayStats
    comparison: Comparison
    #: Seconds the live tables were locked in SHARE mode (writes wait) for the comparison...
    share_seconds: float
    #: ...and in ACCESS EXCLUSIVE mode (reads wait too) for the swap (0 in a dry run).
    lock_seconds: float
    seconds: float


# -- tables -------------------------------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        row = cursor.fetchone()
    return bool(row and row[0])


def drop_tables(*pairs: ReadModelTables) -> list[str]:
    """Drop the tables of ``pairs`` that exist; return their names."""
    dropped = [name for pair in pairs for name in pair if table_exists(name)]
    with connection.cursor() as cursor:
        for name in dropped:
            cursor.execute(f"DROP TABLE {_q(name)}")
    return dropped


def create_shadow_tables(
    live: ReadModelTables = LIVE_TABLES, shadow: ReadModelTables = SHADOW_TABLES
) -> None:
    """Empty tables shaped like the live ones (a previous run's shadow tables are dropped)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for live_name, shadow_name in zip(live, shadow, strict=True):
            cursor.execute(f"DROP TABLE IF EXISTS {_q(shadow_name)}")
            cursor.execute(f"CREATE TABLE {_q(shadow_name)} (LIKE {_q(live_name)} INCLUDING ALL)")


def check_preconditions(
    *, swap: bool, live: ReadModelTables = LIVE_TABLES, old: ReadModelTables = OLD_TABLES
) -> None:
    """Refuse what a rename swap would break: kept old tables, foreign keys (not copied)."""
    if swap:
        kept = [name for name in old if table_exists(name)]
        if kept:
            raise RebuildRefused(
                f"{', '.join(kept)} exist(s) from an earlier swap: inspect, then drop with "
                "`manage.py points_rebuild --drop-old` before rebuilding again"
            )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
            " AND (conrelid = ANY(%s::regclass[]) OR confrelid = ANY(%s::regclass[]))",
            [list(live), list(live)],
        )
        foreign = cursor.fetchall()
    if foreign:
        raise RebuildRefused(f"Foreign keys on the read model would not survive the swap: {foreign}")


def check_history(watermarks: dict[tuple[str, int], tuple[int, int]]) -> None:
    """Refuse when retention deleted the beginning of a partition: the rebuild would miss it."""
    truncated = {tp: low for tp, (low, _high) in watermarks.items() if low > 0}
    if truncated:
        listed = ", ".join(f"{t}[{p}] starts at {low}" for (t, p), low in sorted(truncated.items()))
        raise RebuildRefused(
            f"The topics no longer hold their whole history ({listed}): a rebuild from them "
            "would lose the deleted events. Keep the public topics forever (retention.ms=-1) "
            "or compacted to rebuild from them."
        )


def _analyze(tables: ReadModelTables) -> None:
    with connection.cursor() as cursor:
        for name in tables:
            cursor.execute(f"ANALYZE {_q(name)}")


# -- comparing ----------------------------------------------------------------------------

_AWARDS = """
    SELECT c.customer_id, coalesce(sum(o.item_count) FILTER (WHERE NOT o.deleted), 0) AS items
      FROM {customer} c LEFT JOIN {order} o ON o.customer_id = c.customer_id
     WHERE NOT c.deleted
     GROUP BY c.customer_id
"""


def compare(before: ReadModelTables, after: ReadModelTables, *, examples: int = 5) -> Comparison:
    """Rows and awards of two copies of the read model (run it where neither moves)."""
    b = {"customer": _q(before.customer), "order": _q(before.order)}
    a = {"customer": _q(after.customer), "order": _q(after.order)}
    with connection.cursor() as cursor:
        counts = []
        for name in (before.customer, after.customer, before.order, after.order):
            cursor.execute(f"SELECT count(*) FROM {_q(name)}")
            counts.append(int(cursor.fetchone()[0]))
        cursor.execute(
            f"SELECT count(*) FROM {b['customer']} x FULL JOIN {a['customer']} y USING (customer_id)"
            " WHERE (x.version, x.deleted) IS DISTINCT FROM (y.version, y.deleted)"
        )
        customers_differing = int(cursor.fetchone()[0])
        cursor.execute(
            f"SELECT count(*) FROM {b['order']} x FULL JOIN {a['order']} y USING (order_id)"
            " WHERE (x.customer_id, x.item_count, x.version, x.deleted)"
            " IS DISTINCT FROM (y.customer_id, y.item_count, y.version, y.deleted)"
        )
        orders_differing = int(cursor.fetchone()[0])
        differing = (
            f"WITH x AS ({_AWARDS.format(**b)}), y AS ({_AWARDS.format(**a)})"
            " SELECT customer_id, x.items, y.items FROM x FULL JOIN y USING (customer_id)"
            " WHERE x.items IS DISTINCT FROM y.items"
        )
        cursor.execute(f"SELECT count(*) FROM ({differing}) d")
        awards_differing = int(cursor.fetchone()[0])
        cursor.execute(f"{differing} ORDER BY customer_id LIMIT %s", [examples])
        rows = cursor.fetchall()

    def points(items: int | None) -> float | None:
        return None if items is None else int(items) / ITEMS_PER_POINT

    return Comparison(
        customers=(counts[0], counts[1]),
        orders=(counts[2], counts[3]),
        customers_differing=customers_differing,
        orders_differing=orders_differing,
        awards_differing=awards_differing,
        examples=[AwardDifference(cid, points(x), points(y)) for cid, x, y in rows],
    )


# -- swapping -----------------------------------------------------------------------------


def _lock(tables: ReadModelTables, mode: str, timeout: float) -> None:
    """Lock the tables (inside the caller's transaction) or raise LockNotAcquired."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(timeout * 1000)}ms"])
        try:
            with transaction.atomic():  # a savepoint: a lock timeout must not abort the caller
                cursor.execute(f"LOCK TABLE {', '.join(_q(n) for n in tables)} IN {mode} MODE")
        except OperationalError as exc:  # lock_not_available, deadlock_detected
            raise LockNotAcquired(str(exc)) from exc
        cursor.execute("SELECT set_config('lock_timeout', '0', true)")


def _indexes(table: str) -> list[tuple[str, str, bool]]:
    """(name, definition without its names, is a constraint's) of each index of ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ci.relname, pg_get_indexdef(i.indexrelid), con.conname IS NOT NULL"
            "  FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid"
            "  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid"
            " WHERE i.indrelid = %s::regclass ORDER BY ci.relname",
            [table],
        )
        rows = cursor.fetchall()
    return [(name, re.sub(r"INDEX \S+ ON \S+ ", "INDEX ON ", d), bool(c)) for name, d, c in rows]


def _old_name(name: str) -> str:
    return f"{name[:59]}_old"


def _rename_index(cursor: CursorWrapper, table: str, name: str, new: str, constraint: bool) -> None:
    if constraint:  # renaming the constraint renames its index
        cursor.execute(f"ALTER TABLE {_q(table)} RENAME CONSTRAINT {_q(name)} TO {_q(new)}")
    else:
        cursor.execute(f"ALTER INDEX {_q(name)} RENAME TO {_q(new)}")


def swap_tables(live: ReadModelTables, shadow: ReadModelTables, old: ReadModelTables) -> None:
    """live -> old, shadow -> live, indexes and constraints included (caller's transaction).

    The new live tables get the index and constraint names of the old live ones (Django's
    migrations refer to them); the old ones get ``<name>_old``.
    """
    with connection.cursor() as cursor:
        for live_name, shadow_name, old_name in zip(live, shadow, old, strict=True):
            current, rebuilt = _indexes(live_name), _indexes(shadow_name)
            by_shape: dict[str, list[tuple[str, bool]]] = {}
            for name, shape, constraint in rebuilt:
                by_shape.setdefault(shape, []).append((name, constraint))
            pairs = []
            for name, shape, constraint in current:
                matches = by_shape.get(shape)
                if not matches:
                    raise RebuildRefused(f"{shadow_name} has no index like {name} ({shape}): schema changed?")
                pairs.append((name, constraint, matches.pop(0)[0]))
            for name, constraint, _ in pairs:
                _rename_index(cursor, live_name, name, _old_name(name), constraint)
            cursor.execute(f"ALTER TABLE {_q(live_name)} RENAME TO {_q(old_name)}")
            for name, constraint, rebuilt_name in pairs:
                _rename_index(cursor, shadow_name, rebuilt_name, name, constraint)
            cursor.execute(f"ALTER TABLE {_q(shadow_name)} RENAME TO {_q(live_name)}")


# -- the whole rebuild --------------------------------------------------------------------


def locked(
    mode: str,
    work: Callable[[], object],
    replay: TopicReplay,
    *,
    timeout: float,
    attempts: int,
    say: Callable[[str], None],
    clock: Callable[[], float],
) -> tuple[Offsets, float]:
    """In one transaction: lock the live tables, replay up to the end offsets now, ``work()``.

    Returns the end offsets (the cut) and how long the lock was held. Waiting longer than
    ``timeout`` for the lock (or a deadlock with the live consumer) rolls back and tries again.
    """
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                asked_at = clock()
                _lock(LIVE_TABLES, mode, timeout)
                locked_at = clock()
                cut = replay.end_offsets()
                applied = replay.stats.applied
                replay.replay_to(cut)
                drained_at = clock()
                work()
                worked_at = clock()
            held = clock() - locked_at
            say(
                f"{mode} lock: waited {locked_at - asked_at:.3f}s, held {held:.3f}s: "
                f"{replay.stats.applied - applied} events to the cut {drained_at - locked_at:.3f}s, "
                f"then {worked_at - drained_at:.3f}s, commit {clock() - worked_at:.3f}s"
            )
            return cut, held
        except LockNotAcquired as exc:
            say(f"could not lock the live tables within {timeout}s (attempt {attempt}): {exc}")
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def rebuild(
    replay: TopicReplay,
    *,
    swap: bool = True,
    lock_timeout: float = 5.0,
    lock_attempts: int = 5,
    close_enough: int = 100,
    catch_up_rounds: int = 20,
    say: Callable[[str], None] = logger.info,
    clock: Callable[[], float] = time.monotonic,
) -> RebuildResult:
    """Build the shadow tables from the topics, then swap them in (or, ``swap=False``, compare only).

    Raises :class:`RebuildRefused` before changing anything if the rebuild could not be exact.
    """
    started = clock()
    lock = partial(locked, replay=replay, timeout=lock_timeout, attempts=lock_attempts, say=say, clock=clock)
    check_preconditions(swap=swap)
    check_history(replay.watermarks())
    create_shadow_tables()
    with writing_to(SHADOW_TABLES):
        for _ in range(catch_up_rounds):
            targets = replay.end_offsets()
            replay.replay_to(targets)
            say(f"caught up with {sum(targets.values())} offsets: {replay.stats.applied} events applied")
            if replay.remaining(replay.end_offsets()) <= close_enough:
                break
        _analyze(SHADOW_TABLES)
        # The comparison under SHARE mode: the live consumer waits, the API reads on.
        comparison: list[Comparison] = []
        cut, share_seconds = lock("SHARE", lambda: comparison.append(compare(LIVE_TABLES, SHADOW_TABLES)))
        lock_seconds = 0.0
        if swap:
            cut, lock_seconds = lock(
                "ACCESS EXCLUSIVE", lambda: swap_tables(LIVE_TABLES, SHADOW_TABLES, OLD_TABLES)
            )
    return RebuildResult(
        swapped=swap,
        cut=cut,
        stats=replay.stats,
        comparison=comparison[0],
        share_seconds=share_seconds,
        lock_seconds=lock_seconds,
        seconds=clock() - started,
    )
