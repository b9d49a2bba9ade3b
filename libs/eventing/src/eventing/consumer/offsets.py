"""Which partitions this member owns, how far each was read, and what may be committed.

The offset invariant of the runner lives here: an offset is committed only after the event
at it, and every earlier one of its partition, was applied (or dead-lettered) in a
committed transaction, and only by the member that owns the partition at that moment. The
tracker knows the *unfinished* offsets (held for retry, polled but not applied) through the
callable it is given, and never commits past the lowest of them.

Ownership comes from the rebalance callbacks alone (:meth:`OffsetTracker.on_assign`,
:meth:`~OffsetTracker.on_revoke`, :meth:`~OffsetTracker.on_lost`, given to
``consumer.subscribe()``), which run inside ``consumer.consume()`` (and ``close()``): the
tracker's containers are edited in place, never rebound, and so must be those of the
``assigned`` / ``forgotten`` listeners it calls. ``on_revoke`` commits, synchronously, what
is finished of the revoked partitions, then forgets them; ``on_lost`` commits nothing (another
member may own them already) and forgets them. The callbacks receive exactly the partitions
that change hands under the eager, the cooperative-sticky and the KIP-848 protocols alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

TopicPartitionKey = tuple[str, int]
#: (topic, partition, offset) of an event that is not finished yet.
Unfinished = Callable[[], Iterable[tuple[str | None, int | None, int | None]]]
#: Told which partitions were assigned, or forgotten (revoked or lost).
PartitionsListener = Callable[[set[TopicPartitionKey]], None]


class ConsumerPort(Protocol):
    """The subset of ``confluent_kafka.Consumer`` the runner uses."""

    def subscribe(self, topics: list[str], **callbacks: Any) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]: ...
    def commit(self, *, offsets: list[Any], asynchronous: bool = True) -> Any: ...
    def pause(self, partitions: list[Any]) -> None: ...
    def resume(self, partitions: list[Any]) -> None: ...
    def assignment(self) -> list[Any]: ...
    def close(self) -> None: ...


@dataclass
class PartitionProgress:
    """Offsets of one partition: the next after the highest seen, and the last committed."""

    next_offset: int = -1
    committed: int = -1


class OffsetTracker:
    """Owned partitions, progress per partition, and the commits that follow from them."""

    def __init__(
        self,
        consumer: ConsumerPort,
        unfinished: Unfinished,
        group: str = "",
        assigned: PartitionsListener | None = None,
        forgotten: PartitionsListener | None = None,
    ) -> None:
        self.consumer = consumer
        self.group = group
        self._unfinished = unfinished
        self._assigned = assigned
        self._forgotten = forgotten
        #: Partitions this member owns, from the rebalance callbacks alone (edited in place).
        self.owned: set[TopicPartitionKey] = set()
        #: Progress of owned partitions that were read from (edited in place).
        self.progress: dict[TopicPartitionKey, PartitionProgress] = {}

    def owns(self, topic: str | None, partition: int | None) -> bool:
        return (topic, partition) in self.owned

    def owned_only(self, messages: list[Any]) -> list[Any]:
        """The polled messages of partitions owned *now* (and errors): a revoke in a later
        ``consume()`` call disowns what an earlier one returned (the new owner re-reads it)."""
        owned = [m for m in messages if m.error() is not None or (m.topic(), m.partition()) in self.owned]
        if len(owned) < len(messages):
            logger.info(
                "dropped %d fetched messages of partitions revoked meanwhile (their new owner reads them)",
                len(messages) - len(owned),
                extra={"group": self.group},
            )
        return owned

    def assign(self, partitions: Iterable[TopicPartitionKey]) -> None:
        """These partitions are now ours (eager: all of them; incremental: those added)."""
        self.owned.update(partitions)

    def forget(self, partitions: Iterable[TopicPartitionKey]) -> None:
        """These partitions are no longer ours: drop their ownership, progress, and (through
        the ``forgotten`` listener) what is held of them (their new owner re-reads it)."""
        gone = set(partitions)
        self.owned.difference_update(gone)
        for tp in gone:
            self.progress.pop(tp, None)
        if self._forgotten is not None:
            self._forgotten(gone)

    # The rebalance callbacks: they run inside consumer.consume() (and close()).

    def on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        """Eager: the whole new assignment; incremental protocols: the partitions added."""
        assigned = {(p.topic, p.partition) for p in partitions}
        self.assign(assigned)
        if self._assigned is not None:
            self._assigned(assigned)
        logger.info("partitions assigned: %s", sorted(assigned), extra={"group": self.group})

    def on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Commit what is finished of the revoked partitions, then let them go."""
        revoked = {(p.topic, p.partition) for p in partitions}
        self.commit(asynchronous=False, only=revoked, force=True)
        self.forget(revoked)
        logger.info("partitions revoked: %s", sorted(revoked), extra={"group": self.group})

    def on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        """Another member may own them already: commit nothing, forget everything."""
        lost = {(p.topic, p.partition) for p in partitions}
        self.forget(lost)
        logger.warning("partitions lost: %s", sorted(lost), extra={"group": self.group})

    def seen(self, topic: str | None, partition: int | None, offset: int | None) -> None:
        """A message at ``offset`` was read (it is finished unless reported unfinished)."""
        if topic is None or partition is None or offset is None:
            return
        if (topic, partition) not in self.owned:
            return  # never record progress of a partition someone else may own
        progress = self.progress.setdefault((topic, partition), PartitionProgress())
        progress.next_offset = max(progress.next_offset, offset + 1)

    def positions(self) -> dict[TopicPartitionKey, int]:
        """Per partition, the offset to commit: the lowest unfinished offset, else the next one.

        Unfinished: held for retry, or polled but not yet applied (e.g. while the database
        or the dead-letter topic is unavailable).
        """
        lowest: dict[TopicPartitionKey, int] = {}
        for topic, partition, offset in self._unfinished():
            if topic is None or partition is None or offset is None:
                continue
            tp = (topic, partition)
            lowest[tp] = min(lowest.get(tp, offset), offset)
        positions: dict[TopicPartitionKey, int] = {}
        for tp, progress in self.progress.items():
            if progress.next_offset < 0:
                continue
            positions[tp] = lowest.get(tp, progress.next_offset)
        return positions

    def commit(
        self,
        *,
        asynchronous: bool,
        only: Iterable[TopicPartitionKey] | None = None,
        force: bool = False,
    ) -> None:
        """Commit the finished positions of owned partitions (``force``: even if sent before).

        An asynchronous commit may still fail after it was sent (e.g. in a rebalance), so the
        revoke commits again, synchronously, whatever was sent.
        """
        from confluent_kafka import TopicPartition

        wanted = set(only) if only is not None else None
        offsets = []
        for tp, position in self.positions().items():
            if wanted is not None and tp not in wanted:
                continue
            if tp not in self.owned:
                continue
            progress = self.progress[tp]
            if force or position > progress.committed:
                offsets.append(TopicPartition(tp[0], tp[1], position))
                progress.committed = position
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except Exception as exc:  # KafkaException: e.g. during a rebalance
            logger.warning("offset commit failed: %s", exc, extra={"group": self.group})
            for tp_obj in offsets:
                self.progress[(tp_obj.topic, tp_obj.partition)].committed = -1

    def on_commit(self, error: Any, partitions: list[Any]) -> None:
        """Result of an asynchronous commit (librdkafka's ``on_commit``, served in consume()).

        A commit that failed (e.g. sent during a cooperative rebalance, when no revoke follows
        to commit again) is sent again by the next commit: without this the partition's last
        position may never reach the broker once its backlog is drained.
        """
        failed = [p for p in partitions if error is not None or getattr(p, "error", None) is not None]
        if not failed:
            return
        logger.warning(
            "offset commit failed, will retry: %s",
            error or failed[0].error,
            extra={"group": self.group, "partitions": [(p.topic, p.partition) for p in failed]},
        )
        for tp in failed:
            progress = self.progress.get((tp.topic, tp.partition))
            if progress is not None and progress.committed <= tp.offset:
                progress.committed = -1
