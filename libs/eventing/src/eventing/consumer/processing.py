"""Applying a batch of events to the database with an exactly-once effect.

This is the database half of a consumer, free of Kafka, so the same code runs under the
Kafka runner, the in-memory test bus and ``eventing.testing.deliver``.

A batch is applied in one transaction. Each event's id is first claimed in the inbox
(``INSERT ... ON CONFLICT DO NOTHING RETURNING``); only claimed events reach their handler,
so a redelivery changes nothing. Fast path: the whole batch runs with no savepoints. If a
handler raises, the transaction is rolled back and the batch is re-run with one savepoint
per event, which isolates the failing event: its key is *blocked*, and later events of the
same key are *deferred* (not applied), which preserves per-key order while every other key
proceeds.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction

from eventing.consumer.registry import Handler, HandlerRegistry
from eventing.events import Event
from eventing.exceptions import EventingError
from eventing.inbox.models import InboxEntry, InboxStatus
from eventing.tracing import trace_context

logger = logging.getLogger(__name__)

_INBOX = InboxEntry._meta.db_table


class DatabaseUnavailable(EventingError):
    """The database cannot be reached: nobody's fault but the infrastructure's; retry later."""


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"  # no handler for its type
    FAILED = "failed"
    DEFERRED = "deferred"  # an earlier event of the same key failed


def ordering_key(event: Event) -> tuple[str, str | None]:
    """Events with equal ordering keys are applied strictly in offset order."""
    return (event.topic, event.key)


@dataclass
class BatchResult:
    """What happened to each event of a batch, in input order."""

    outcomes: list[Outcome] = field(default_factory=list)
    errors: dict[int, BaseException] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o is outcome)


class BatchProcessor:
    """Applies batches of events for one consumer group, exactly once per event id."""

    def __init__(self, group: str, handlers: HandlerRegistry, *, using: str = DEFAULT_DB_ALIAS) -> None:
        self.group = group
        self.handlers = handlers
        self.using = using

    def handler_for(self, event: Event) -> Handler | None:
        raw = self.handlers.for_raw_topic(event.topic)
        return raw if raw is not None else self.handlers.for_type(event.type)

    # -- public API ---------------------------------------------------------------------

    def process(self, events: Sequence[Event]) -> BatchResult:
        """Apply ``events`` (in order); raises :class:`DatabaseUnavailable` if the DB is down."""
        if not events:
            return BatchResult()
        known_failure: tuple[int, BaseException] | None = None
        try:
            return self._fast(events)
        except _HandlerFailed as failed:
            if failed.index is not None:
                known_failure = (failed.index, failed.error)
        except (OperationalError, InterfaceError) as exc:
            self._raise_if_database_down(exc)
        return self._careful(events, known_failure)

    def record_dead_letter(self, event: Event) -> None:
        """Mark ``event`` as finished (dead-lettered) so a redelivery does not retry it."""
        with self._db_errors(), transaction.atomic(using=self.using):
            self._claim([event], status=InboxStatus.DEAD_LETTERED)

    # -- internals ----------------------------------------------------------------------

    def _fast(self, events: Sequence[Event]) -> BatchResult:
        outcomes: list[Outcome] = []
        with transaction.atomic(using=self.using):
            claimed = self._claim(events)
            runs: list[tuple[Handler, list[int]]] = []
            for index, event in enumerate(events):
                handler = self.handler_for(event)
                if handler is None:
                    outcomes.append(Outcome.SKIPPED)
                elif event.id not in claimed:
                    outcomes.append(Outcome.DUPLICATE)
                else:
                    claimed.discard(event.id)  # a second copy in this batch is a duplicate
                    outcomes.append(Outcome.APPLIED)
                    if runs and runs[-1][0] is handler and handler.batch:
                        runs[-1][1].append(index)
                    else:
                        runs.append((handler, [index]))
            for handler, indices in runs:
                try:
                    self._call(handler, [events[i] for i in indices])
                except (OperationalError, InterfaceError):
                    raise
                except Exception as exc:
                    # A one-event run pins the failure on that event; a batch run does not.
                    raise _HandlerFailed(indices[0] if len(indices) == 1 else None, exc) from exc
        return BatchResult(outcomes=outcomes)

    def _careful(
        self, events: Sequence[Event], known_failure: tuple[int, BaseException] | None
    ) -> BatchResult:
        """One savepoint per event; the event that already failed is not run again."""
        result = BatchResult()
        blocked: set[tuple[str, str | None]] = set()
        with self._db_errors(), transaction.atomic(using=self.using):
            for index, event in enumerate(events):
                handler = self.handler_for(event)
                if ordering_key(event) in blocked:
                    result.outcomes.append(Outcome.DEFERRED)
                    continue
                if handler is None:
                    result.outcomes.append(Outcome.SKIPPED)
                    continue
                if known_failure is not None and known_failure[0] == index:
                    self._failed(result, index, event, known_failure[1], blocked)
                    continue
                try:
                    with transaction.atomic(using=self.using):
                        if not self._claim([event]):
                            result.outcomes.append(Outcome.DUPLICATE)
                            continue
                        self._call(handler, [event])
                except (OperationalError, InterfaceError) as exc:
                    if not self._database_is_up():
                        raise
                    self._failed(result, index, event, exc, blocked)
                except Exception as exc:
                    self._failed(result, index, event, exc, blocked)
                else:
                    result.outcomes.append(Outcome.APPLIED)
        return result

    def _failed(
        self,
        result: BatchResult,
        index: int,
        event: Event,
        exc: BaseException,
        blocked: set[tuple[str, str | None]],
    ) -> None:
        result.outcomes.append(Outcome.FAILED)
        result.errors[index] = exc
        blocked.add(ordering_key(event))
        logger.warning(
            "handler failed: %s: %s",
            type(exc).__name__,
            exc,
            extra=log_fields(event, self.group),
        )

    def _call(self, handler: Handler, events: list[Event]) -> None:
        if handler.batch:
            handler(events)
            return
        for event in events:
            with trace_context(event.traceparent):
                handler([event])

    def _claim(self, events: Sequence[Event], *, status: str = InboxStatus.APPLIED) -> set[str]:
        """Insert inbox rows; return the ids this transaction now owns (others: duplicates)."""
        rows: list[Any] = []
        seen: set[str] = set()
        for event in events:
            if event.id in seen:
                continue
            seen.add(event.id)
            rows.extend([self.group, event.id, event.topic, event.partition, event.offset, status])
        if not rows:
            return set()
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * (len(rows) // 6))
        sql = (
            f'INSERT INTO {_INBOX} (consumer_group, event_id, topic, partition, "offset", status)'
            f" VALUES {placeholders} ON CONFLICT DO NOTHING RETURNING event_id"
        )
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, rows)
            return {row[0] for row in cursor.fetchall()}

    def _database_is_up(self) -> bool:
        connection = connections[self.using]
        if connection.in_atomic_block:
            # Inside the outer transaction: a broken connection shows as unusable.
            return connection.is_usable()
        try:
            connection.close()
            connection.ensure_connection()
            return connection.is_usable()
        except (OperationalError, InterfaceError):
            return False

    def _raise_if_database_down(self, exc: BaseException) -> None:
        if not self._database_is_up():
            connections[self.using].close()
            raise DatabaseUnavailable(f"Database unavailable: {exc}") from exc

    def _db_errors(self) -> _DatabaseErrors:
        return _DatabaseErrors(self)


class _HandlerFailed(Exception):
    """Internal: a handler raised during the fast path; re-run the batch carefully."""

    def __init__(self, index: int | None, error: BaseException) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class _DatabaseErrors:
    """Context manager turning connection-level DB errors into DatabaseUnavailable."""

    def __init__(self, processor: BatchProcessor) -> None:
        self.processor = processor

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, (OperationalError, InterfaceError)):
            self.processor._raise_if_database_down(exc)


def log_fields(event: Event, group: str) -> dict[str, object]:
    return {
        "event_id": event.id,
        "event_type": event.type,
        "topic": event.topic,
        "partition": event.partition,
        "offset": event.offset,
        "key": event.key,
        "group": group,
    }
