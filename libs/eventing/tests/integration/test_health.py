"""``check_consumer``: alive, not stuck, and not fooled by the rows of dead members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from eventing.consumer.kafka import StatusReporter, purge_dead_status_rows
from eventing.consumer.runner import Counters
from eventing.health import check_consumer
from eventing.inbox.models import ConsumerStatus

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

GROUP = "tests.health"


def status(member: str, *, seen: float = 0, progressed: float = 0, lag: int | None = 0) -> ConsumerStatus:
    """A status row seen ``seen`` seconds ago that last progressed ``progressed`` seconds ago."""
    now = datetime.now(UTC)
    return ConsumerStatus.objects.create(
        member=f"{GROUP}/{member}",
        consumer_group=GROUP,
        host="h",
        pid=1,
        started_at=now - timedelta(hours=1),
        seen_at=now - timedelta(seconds=seen),
        progressed_at=now - timedelta(seconds=progressed),
        lag=lag,
    )


def test_a_live_member_catching_up_is_healthy() -> None:
    status("a", lag=5000, progressed=1)
    check_consumer(GROUP)


def test_a_live_member_with_lag_and_no_progress_is_stuck() -> None:
    # Given a member that reports in every few seconds but applies nothing while 12 wait
    status("a", lag=12, progressed=300)
    status("b", lag=0, progressed=1)
    # Then the group is unhealthy, naming the member, what waits and for how long
    with pytest.raises(RuntimeError, match=r"consumer tests.health/a is stuck: 12 messages waiting.*300s"):
        check_consumer(GROUP, max_stall=120)


def test_an_idle_member_with_nothing_to_do_is_not_stuck() -> None:
    status("a", lag=0, progressed=3600)
    check_consumer(GROUP)


def test_rows_of_dead_members_are_ignored() -> None:
    # Given a dead member's row (stuck when it died) and a live, healthy member
    status("dead", seen=600, lag=99, progressed=900)
    status("live", lag=0)
    # Then the group is healthy
    check_consumer(GROUP)
    # ...but a group whose members are all dead is not
    ConsumerStatus.objects.filter(member=f"{GROUP}/live").delete()
    with pytest.raises(RuntimeError, match="last reported 600s ago"):
        check_consumer(GROUP)


def test_rows_of_members_gone_for_longer_than_the_retention_are_deleted() -> None:
    status("gone", seen=7200)
    status("recent", seen=60)
    assert purge_dead_status_rows(older_than=3600) == 1
    assert set(ConsumerStatus.objects.values_list("member", flat=True)) >= {f"{GROUP}/recent"}
    assert not ConsumerStatus.objects.filter(member=f"{GROUP}/gone").exists()


class FakeRunner(SimpleNamespace):
    """What the status reporter reads from a runner."""


def fake_runner(applied: int) -> Any:
    return FakeRunner(
        member=f"{GROUP}/fake",
        group=GROUP,
        started_at=datetime.now(UTC),
        counters=Counters(applied=applied),
        held_count=0,
    )


def test_the_reporter_moves_progressed_at_only_when_events_are_done_or_nothing_waits(monkeypatch) -> None:
    reporter = StatusReporter()
    lag = {"value": 10}
    monkeypatch.setattr(reporter, "lag", lambda runner: lag["value"])
    # Given a first report with events waiting
    reporter(fake_runner(applied=3))
    first = ConsumerStatus.objects.get(member=f"{GROUP}/fake").progressed_at
    # When it reports again having done nothing, with the same lag
    reporter(fake_runner(applied=3))
    # Then progress did not move...
    assert ConsumerStatus.objects.get(member=f"{GROUP}/fake").progressed_at == first
    # ...until an event is applied
    reporter(fake_runner(applied=4))
    assert ConsumerStatus.objects.get(member=f"{GROUP}/fake").progressed_at > first
