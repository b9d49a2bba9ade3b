"""When the runner reports its status and purges the inbox."""

from __future__ import annotations

import pytest

from eventing.consumer.status import StatusCadence
from eventing.inbox import purge

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def purges(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    calls: list[tuple[str, float]] = []
    monkeypatch.setattr(purge, "purge_inbox", lambda *, group, older_than: calls.append((group, older_than)))
    return calls


def test_the_status_is_reported_at_once_then_every_interval(purges) -> None:
    clock, events = Clock(), []
    cadence = StatusCadence("g", clock, 5.0, 3600.0, 0.0)

    def tick() -> None:
        cadence.tick(
            lambda: events.append(("report", clock.now)), lambda: events.append(("hooks", clock.now))
        )

    tick()
    clock.now += 4.9
    tick()
    clock.now += 0.1
    tick()
    cadence.tick(None, lambda: events.append(("forced", clock.now)), force=True)
    assert events == [("report", 50.0), ("hooks", 50.0), ("report", 55.0), ("hooks", 55.0), ("forced", 55.0)]
    assert purges == []  # a purge interval of 0: never


def test_a_failing_report_still_calls_the_hooks(purges, caplog) -> None:
    hooks = []

    def broken() -> None:
        raise RuntimeError("database down")

    StatusCadence("g", Clock(), 5.0, 3600.0, 0.0).tick(broken, lambda: hooks.append(1))
    assert hooks == [1]
    assert "status report failed: database down" in caplog.text


def test_the_inbox_is_purged_every_purge_interval_not_at_start(purges) -> None:
    clock = Clock()
    cadence = StatusCadence("g", clock, 5.0, 7200.0, 60.0)
    cadence.tick(None, lambda: None)
    clock.now += 59.0
    cadence.tick(None, lambda: None)
    assert purges == []
    clock.now += 1.0
    cadence.tick(None, lambda: None)
    clock.now += 30.0
    cadence.tick(None, lambda: None)
    assert purges == [("g", 7200.0)]
