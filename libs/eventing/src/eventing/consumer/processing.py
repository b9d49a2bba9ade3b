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

A copy redriven from the dead-letter topic for this group (``eventing_dlt redrive``) claims
the event over its ``dead_lettered`` inbox row, once, while its redrive row is pending
(decision 0010).
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction

from eventing.bulk import bulk_cursor
from eventing.consumer.registry import Handler, HandlerRegistry
from eventing.events import Event
from eventing.exceptions import EventingError
from eventing.inbox.models import InboxEntry, InboxStatus
from eventing.redrive import REDRIVE_GROUP_HEADER, REDRIVE_ID_HEADER
from eventing.redrive.models import DeadLetterRedrive, RedriveOutcome
from eventing.tracing import trace_context

logger = logging.getLogger(__name__)

_INBOX = InboxEntry._meta.db_table
_REDRIVE = DeadLetterRedrive._meta.db_table
#: Claims a batch of event ids; returns those this transaction now owns.
_CLAIM = (
    f'INSERT INTO {_INBOX} (consumer_group, event_id, topic, partition, "offset", status)'
    ' SELECT %s, u.event_id, u.topic, u."partition", u."offset", %s'
    " FROM unnest(%b::text[], %b::text[], %b::integer[], %b::bigint[])"
    ' AS u(event_id, topic, "partition", "offset")'
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


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
        """Mark ``event`` as finished (dead-lettered) so a redelivery does not retry it.

        A redriven copy that failed again marks its redrive row ``failed``.
        """
        with self._db_errors(), transaction.atomic(using=self.using):
            self._claim([event], status=InboxStatus.DEAD_LETTERED)
            redrive_id = self.redrive_of(event.headers)
            if redrive_id is not None:
                self._finish_redrive(redrive_id, RedriveOutcome.FAILED)

    def poison_wanted(self, event_id: str, headers: Mapping[str, str | None]) -> bool:
        """Whether a message that cannot be decoded must go to the dead-letter topic.

        Not if this group dead-lettered (or applied) that event id already: a replay of the
        topic must not write the same dead letter twice. A redriven copy still pending
        (which turned out to be poison again) is dead-lettered again.
        """
        redrive_id = self.redrive_of(headers)
        with self._db_errors(), connections[self.using].cursor() as cursor:
            if redrive_id is not None:
                cursor.execute(
                    f"SELECT 1 FROM {_REDRIVE} WHERE id = %s AND consumer_group = %s AND outcome = %s",
                    [redrive_id, self.group, RedriveOutcome.PENDING],
                )
                if cursor.fetchone() is not None:
                    return True
            cursor.execute(
                f"SELECT 1 FROM {_INBOX} WHERE consumer_group = %s AND event_id = %s",
                [self.group, event_id],
            )
            return cursor.fetchone() is None

    def record_poison(
        self, event_id: str, *, topic: str, partition: int, offset: int, headers: Mapping[str, str | None]
    ) -> None:
        """Record a dead-lettered undecodable message, as :meth:`record_dead_letter` does."""
        with self._db_errors(), transaction.atomic(using=self.using):
            with connections[self.using].cursor() as cursor:
                cursor.execute(
                    f'INSERT INTO {_INBOX} (consumer_group, event_id, topic, partition, "offset", status)'
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [self.group, event_id, topic, partition, offset, InboxStatus.DEAD_LETTERED],
                )
            redrive_id = self.redrive_of(headers)
            if redrive_id is not None:
                self._finish_redrive(redrive_id, RedriveOutcome.FAILED)

    def redrive_of(self, headers: Mapping[str, str | None]) -> str | None:
        """The redrive id of a copy redriven for *this* group, else None."""
        if headers.get(REDRIVE_GROUP_HEADER) != self.group:
            return None
        value = headers.get(REDRIVE_ID_HEADER)
        try:
            return str(uuid.UUID(value)) if value else None
        except ValueError:
            return None

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
        """Insert inbox rows; return the ids this transaction now owns (others: duplicates).

        A copy redriven for this group also claims the event over its ``dead_lettered`` row,
        while its redrive row is pending (and marks that row applied, in this transaction).
        """
        unique: dict[str, Event] = {}
        redriven: list[tuple[Event, str]] = []
        for event in events:
            if event.id in unique:
                continue
            unique[event.id] = event
            if status == InboxStatus.APPLIED and (redrive_id := self.redrive_of(event.headers)):
                redriven.append((event, redrive_id))
        claimed = self._insert_inbox(list(unique.values()), status)
        for event, redrive_id in redriven:
            if event.id in claimed or self._reclaim(event, redrive_id):
                claimed.add(event.id)
                self._finish_redrive(redrive_id, RedriveOutcome.APPLIED)
        return claimed

    def _reclaim(self, event: Event, redrive_id: str) -> bool:
        """Turn the event's ``dead_lettered`` inbox row ``applied`` if its redrive is pending."""
        sql = (
            f"UPDATE {_INBOX} SET status = %s, topic = %s, partition = %s,"
            ' "offset" = %s, processed_at = now()'
            " WHERE consumer_group = %s AND event_id = %s AND status = %s"
            f" AND EXISTS (SELECT 1 FROM {_REDRIVE} r WHERE r.id = %s AND r.consumer_group = %s"
            " AND r.event_id = %s AND r.outcome = %s) RETURNING event_id"
        )
        params: list[Any] = [
            InboxStatus.APPLIED,
            event.topic,
            event.partition,
            event.offset,
            self.group,
            event.id,
            InboxStatus.DEAD_LETTERED,
            redrive_id,
            self.group,
            event.id,
            RedriveOutcome.PENDING,
        ]
        with connections[self.using].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() is not None

    def _finish_redrive(self, redrive_id: str, outcome: str) -> None:
        with connections[self.using].cursor() as cursor:
            cursor.execute(
                f"UPDATE {_REDRIVE} SET outcome = %s, finished_at = now()"
                " WHERE id = %s AND consumer_group = %s AND outcome = %s",
                [outcome, redrive_id, self.group, RedriveOutcome.PENDING],
            )

    def _insert_inbox(self, events: list[Event], status: str) -> set[str]:
        """One statement for any number of events: the rows travel as four arrays.

        A multi-row ``VALUES`` list would be a new query text for each batch size, which
        psycopg parses again every time (it caches short statements only): ~50 µs per event.
        The arrays are bound server-side, in binary (``%b``; :mod:`eventing.bulk`).
        """
        if not events:
            return set()
        with bulk_cursor(self.using) as cursor:
            cursor.execute(
                _CLAIM,
                [
                    self.group,
                    status,
                    [e.id for e in events],
                    [e.topic for e in events],
                    [e.partition for e in events],
                    [e.offset for e in events],
                ],
            )
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
