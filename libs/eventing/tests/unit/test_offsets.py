"""Planning and applying a consumer group's offset reset, against a scripted admin client.

What an operator relies on: a running group is refused naming its members; a group with
nothing committed needs its topics named; an unknown topic is refused; a time past a
partition's last message moves it to the end; a dry run moves nothing; Kafka's refusal is
reported with the group.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import OffsetSpec

from eventing import offsets
from eventing.offsets import GroupActive, OffsetMove, ResetError, plan_reset, reset_offsets

pytestmark = pytest.mark.unit


def done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
    return future


class ScriptedAdmin:
    """The few AdminClient calls offsets.py makes, over a scripted cluster.

    ``log`` maps (topic, partition) to the timestamps (ms) of its messages, offset = index,
    from ``start`` (messages before it were deleted by retention).
    """

    def __init__(
        self,
        log: dict[tuple[str, int], list[int]],
        *,
        committed: dict[tuple[str, int], int] | None = None,
        members: list[tuple[str, str]] = (),  # type: ignore[assignment]
        start: int = 0,
        refuse: KafkaException | None = None,
    ) -> None:
        self.log = log
        self.committed = dict(committed or {})
        self.members = list(members)
        self.start = start
        self.refuse = refuse
        self.altered: list[Any] = []
        self.specs: list[Any] = []

    def describe_consumer_groups(self, groups: list[str], request_timeout: float) -> dict[str, Future[Any]]:
        members = [SimpleNamespace(client_id=c, host=h) for c, h in self.members]
        return {groups[0]: done(SimpleNamespace(members=members))}

    def list_consumer_group_offsets(
        self, requests: list[Any], request_timeout: float
    ) -> dict[str, Future[Any]]:
        group = requests[0].group_id
        tps = [SimpleNamespace(topic=t, partition=p, offset=o) for (t, p), o in self.committed.items()]
        tps.append(SimpleNamespace(topic="orders", partition=99, offset=-1001))  # no commit there
        return {group: done(SimpleNamespace(topic_partitions=tps))}

    def list_topics(self, timeout: float) -> Any:
        topics: dict[str, dict[int, None]] = {}
        for topic, partition in self.log:
            topics.setdefault(topic, {})[partition] = None
        return SimpleNamespace(topics={t: SimpleNamespace(partitions=ps) for t, ps in topics.items()})

    def list_offsets(self, requests: dict[Any, Any], request_timeout: float) -> dict[Any, Future[Any]]:
        answers = {}
        for tp, spec in requests.items():
            self.specs.append(spec)
            stamps = self.log[(tp.topic, tp.partition)]
            if isinstance(spec, type(OffsetSpec.earliest())):
                offset = self.start
            elif isinstance(spec, type(OffsetSpec.latest())):
                offset = len(stamps)
            else:
                later = [i for i, ts in enumerate(stamps) if ts >= spec.timestamp and i >= self.start]
                offset = later[0] if later else -1  # Kafka: no message at or after the time
            answers[tp] = done(SimpleNamespace(offset=offset))
        return answers

    def alter_consumer_group_offsets(
        self, requests: list[Any], request_timeout: float
    ) -> dict[str, Future[Any]]:
        request = requests[0]
        if self.refuse is not None:
            return {request.group_id: done(self.refuse)}
        self.altered.append([(tp.topic, tp.partition, tp.offset) for tp in request.topic_partitions])
        return {request.group_id: done(request)}


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> ScriptedAdmin:
    scripted = ScriptedAdmin(
        {("orders", 0): [1000, 2000, 3000], ("orders", 1): [1500, 2500], ("customers", 0): [500]},
        committed={("orders", 0): 3, ("orders", 1): 2},
    )
    monkeypatch.setattr(offsets, "_admin", lambda config: scripted)
    return scripted


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_a_reset_to_the_beginning_moves_every_committed_partition_to_the_earliest_offset(
    admin: ScriptedAdmin,
) -> None:
    admin.start = 1  # the first message of each partition is gone (retention)
    moves = reset_offsets({}, "tests.orders")
    assert moves == [OffsetMove("orders", 0, 3, 1), OffsetMove("orders", 1, 2, 1)]
    assert admin.altered == [[("orders", 0, 1), ("orders", 1, 1)]]


def test_a_reset_to_a_time_moves_to_the_first_message_at_or_after_it(admin: ScriptedAdmin) -> None:
    moves = reset_offsets({}, "tests.orders", to_datetime=at(2000))
    assert [(m.partition, m.after) for m in moves] == [(0, 1), (1, 1)]
    (spec, *_) = admin.specs
    assert spec.timestamp == 2000  # milliseconds, as Kafka's timestamps


def test_a_time_past_a_partitions_last_message_moves_it_to_the_end(admin: ScriptedAdmin) -> None:
    moves = reset_offsets({}, "tests.orders", to_datetime=at(2600))
    assert [(m.partition, m.after) for m in moves] == [(0, 2), (1, 2)]  # partition 1 ends at 2


def test_a_dry_run_plans_but_moves_nothing(admin: ScriptedAdmin) -> None:
    moves = reset_offsets({}, "tests.orders", dry_run=True)
    assert [m.after for m in moves] == [0, 0]
    assert admin.altered == []


def test_a_group_with_members_is_refused_naming_them(admin: ScriptedAdmin) -> None:
    admin.members = [("orders-consumer-1", "/10.0.0.7"), ("orders-consumer-2", "/10.0.0.8")]
    with pytest.raises(GroupActive) as raised:
        reset_offsets({}, "tests.orders")
    message = str(raised.value)
    assert "has 2 active member(s): orders-consumer-1@/10.0.0.7, orders-consumer-2@/10.0.0.8" in message
    assert "Stop its consumers first" in message
    assert admin.altered == []


def test_named_topics_are_reset_even_where_the_group_never_committed(admin: ScriptedAdmin) -> None:
    moves = reset_offsets({}, "tests.orders", topics=["customers"])
    assert moves == [OffsetMove("customers", 0, None, 0)]


def test_a_group_without_commits_falls_back_to_its_handlers_topics(admin: ScriptedAdmin) -> None:
    admin.committed = {}
    moves = plan_reset({}, "tests.new", fallback_topics=["customers"])
    assert [(m.topic, m.before) for m in moves] == [("customers", None)]


def test_a_group_without_commits_or_topics_is_refused_asking_for_them(admin: ScriptedAdmin) -> None:
    admin.committed = {}
    with pytest.raises(
        ResetError, match=r"tests\.new has no committed offsets; name the topics with --topic"
    ):
        plan_reset({}, "tests.new")


def test_an_unknown_topic_is_refused_by_name(admin: ScriptedAdmin) -> None:
    with pytest.raises(ResetError, match=r"Unknown topic\(s\): ordres"):
        plan_reset({}, "tests.orders", topics=["orders", "ordres"])


def test_kafka_refusing_the_move_is_reported_with_the_group(admin: ScriptedAdmin) -> None:
    admin.refuse = KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID))
    with pytest.raises(ResetError) as raised:
        reset_offsets({}, "tests.orders")
    assert "Kafka refused to move the offsets of tests.orders" in str(raised.value)
    assert raised.value.context == {"group": "tests.orders"}
