"""Moving a stopped consumer group's committed offsets: to the beginning, or to a point in time.

A replay re-reads the topics; the inbox makes it safe (what was applied is a duplicate, what
was dead-lettered is not dead-lettered again), so a reset is the way to rebuild state a
handler bug got wrong *if* the handler's effects are idempotent per event, or to re-run
events after their handler was fixed. Kafka itself refuses to move the offsets of a group
with active members; :func:`reset_offsets` refuses first, naming them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventing.exceptions import EventingError


class GroupActive(EventingError):
    """The group has members: its offsets cannot be moved under them."""


class ResetError(EventingError):
    """The reset could not be planned or applied."""


@dataclass(frozen=True)
class OffsetMove:
    """One partition's committed offset, before (None: none) and after the reset."""

    topic: str
    partition: int
    before: int | None
    after: int


def _admin(config: dict[str, Any]) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(config)


def active_members(admin: Any, group: str, *, timeout: float = 10.0) -> list[str]:
    """``client_id@host`` of the group's members now (empty for an empty or unknown group)."""
    description = admin.describe_consumer_groups([group], request_timeout=timeout)[group].result()
    return [f"{m.client_id}@{m.host}" for m in description.members]


def committed_offsets(admin: Any, group: str, *, timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """The group's committed offsets (partitions without a commit are left out)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)
    listing = result[group].result()
    return {(tp.topic, tp.partition): tp.offset for tp in listing.topic_partitions or () if tp.offset >= 0}


def plan_reset(
    config: dict[str, Any],
    group: str,
    *,
    topics: Iterable[str] = (),
    to_datetime: datetime | None = None,
    fallback_topics: Iterable[str] = (),
    timeout: float = 10.0,
) -> list[OffsetMove]:
    """Where each partition of ``topics`` would go (default: the topics the group committed,
    else ``fallback_topics``, e.g. its handlers' topics).

    ``to_datetime`` None: the beginning (earliest offset still in the log); else the first
    offset whose timestamp is at or after it (the end if none is).
    """
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

    admin = _admin(config)
    members = active_members(admin, group, timeout=timeout)
    if members:
        raise GroupActive(
            f"Consumer group {group} has {len(members)} active member(s): {', '.join(members)}. "
            "Stop its consumers first (offsets of a running group cannot be moved).",
            context={"group": group},
        )
    before = committed_offsets(admin, group, timeout=timeout)
    wanted = sorted(set(topics) or {t for t, _ in before} or set(fallback_topics))
    if not wanted:
        raise ResetError(f"Consumer group {group} has no committed offsets; name the topics with --topic")
    metadata = admin.list_topics(timeout=timeout).topics
    unknown = [t for t in wanted if t not in metadata]
    if unknown:
        raise ResetError(f"Unknown topic(s): {', '.join(unknown)}")
    partitions = [TopicPartition(t, p) for t in wanted for p in sorted(metadata[t].partitions)]
    if to_datetime is None:
        spec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
    else:
        spec = OffsetSpec.for_timestamp(int(to_datetime.timestamp() * 1000))
    targets = _list_offsets(admin, partitions, spec, timeout)
    past_end = [tp for tp in partitions if targets[(tp.topic, tp.partition)] < 0]
    if past_end:
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        targets.update(_list_offsets(admin, past_end, latest, timeout))
    return [
        OffsetMove(
            tp.topic, tp.partition, before.get((tp.topic, tp.partition)), targets[(tp.topic, tp.partition)]
        )
        for tp in partitions
    ]


def _list_offsets(admin: Any, partitions: list[Any], spec: Any, timeout: float) -> dict[tuple[str, int], int]:
    futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout)
    return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}


def apply_reset(
    config: dict[str, Any], group: str, moves: list[OffsetMove], *, timeout: float = 10.0
) -> None:
    """Commit ``moves`` for ``group`` (Kafka refuses if a member joined meanwhile)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

    admin = _admin(config)
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(m.topic, m.partition, m.after) for m in moves]
    )
    try:
        admin.alter_consumer_group_offsets([request], request_timeout=timeout)[group].result()
    except KafkaException as exc:
        raise ResetError(
            f"Kafka refused to move the offsets of {group}: {exc}", context={"group": group}
        ) from exc


def reset_offsets(
    config: dict[str, Any],
    group: str,
    *,
    topics: Iterable[str] = (),
    to_datetime: datetime | None = None,
    fallback_topics: Iterable[str] = (),
    dry_run: bool = False,
    timeout: float = 10.0,
) -> list[OffsetMove]:
    """Plan and (unless ``dry_run``) apply a reset of a stopped group; return the moves."""
    moves = plan_reset(
        config,
        group,
        topics=topics,
        to_datetime=to_datetime,
        fallback_topics=fallback_topics,
        timeout=timeout,
    )
    if not dry_run:
        apply_reset(config, group, moves, timeout=timeout)
    return moves
