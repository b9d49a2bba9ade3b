"""The connector supervisor against a scripted Connect: restarts, backoff, grace, giving up."""

from __future__ import annotations

from typing import Any

import pytest

from eventing.connect.debezium import DatabaseEndpoint, outbox_connector
from eventing.connect.supervisor import ConnectorSupervisor, problem_of
from eventing.consumer.retry import Backoff

pytestmark = pytest.mark.unit

CONNECTOR = outbox_connector("customers-outbox", DatabaseEndpoint("h", 5432, "d", "u", "p"))
TRACE = "org.apache.kafka.connect.errors.DataException: registry unreachable\n\tat x"


def status(connector: str = "RUNNING", task: str | None = "RUNNING") -> dict[str, Any]:
    tasks = [] if task is None else [{"id": 0, "state": task, "trace": TRACE if task == "FAILED" else None}]
    return {"connector": {"state": connector}, "tasks": tasks}


class ScriptedConnect:
    url = "http://connect"

    def __init__(self, current: dict[str, Any] | None) -> None:
        self.current = current
        self.restarts: list[dict[str, Any]] = []
        self.applied: list[str] = []

    def status(self, name: str) -> dict[str, Any] | None:
        return self.current

    def restart(self, name: str, *, include_tasks: bool = True, only_failed: bool = False) -> None:
        self.restarts.append({"name": name, "include_tasks": include_tasks, "only_failed": only_failed})

    def apply(self, connector: Any) -> bool:
        self.applied.append(connector.name)
        self.current = status()
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def supervisor(
    connect: ScriptedConnect, clock: Clock, **kwargs: Any
) -> tuple[ConnectorSupervisor, list[str]]:
    states: list[str] = []
    made = ConnectorSupervisor(
        connect,  # type: ignore[arg-type]
        [CONNECTOR],
        backoff=Backoff(initial=2.0, multiplier=2.0, maximum=60.0, jitter=0.0),
        clock=clock,
        record=lambda name, episode, state: states.append(state),
        **kwargs,
    )
    return made, states


def test_problems_are_read_from_the_status() -> None:
    assert problem_of(status()) is None
    assert problem_of(status(task="FAILED")) == ("failed", TRACE)
    assert problem_of(status(connector="UNASSIGNED"))[0] == "unassigned"  # type: ignore[index]
    assert problem_of(status(task=None)) == ("unassigned", "no tasks")
    assert problem_of(status(connector="STOPPED", task=None)) is None  # stopped on purpose


def test_a_failed_task_is_restarted_with_exponential_backoff(caplog: pytest.LogCaptureFixture) -> None:
    connect, clock = ScriptedConnect(status(task="FAILED")), Clock()
    watch, _ = supervisor(connect, clock)
    watch.check_once()
    assert connect.restarts == [{"name": "customers-outbox", "include_tasks": True, "only_failed": True}]
    assert "registry unreachable" in caplog.text  # the restart is logged with the trace
    clock.now = 1.9
    watch.check_once()
    assert len(connect.restarts) == 1  # not due yet (2 s)
    clock.now = 2.0
    watch.check_once()
    clock.now = 5.9
    watch.check_once()
    assert len(connect.restarts) == 2  # next one after 4 s more
    clock.now = 6.0
    watch.check_once()
    assert len(connect.restarts) == 3


def test_it_gives_up_loudly_after_max_restarts_and_starts_afresh_once_stable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connect, clock = ScriptedConnect(status(task="FAILED")), Clock()
    watch, states = supervisor(connect, clock, max_restarts=2, stable=60.0)
    for t in range(0, 100, 5):
        clock.now = float(t)
        watch.check_once()
    assert len(connect.restarts) == 2
    assert states[-1] == "gave_up"
    assert "gave up on customers-outbox: 2 restarts did not help" in caplog.text
    # When someone fixes it and it runs for a while, the supervisor's attempts are fresh again
    connect.current = status()
    clock.now = 100.0
    watch.check_once()
    clock.now = 161.0
    watch.check_once()
    assert states[-1] == "running"
    connect.current = status(task="FAILED")
    clock.now = 170.0
    watch.check_once()
    assert len(connect.restarts) == 3


def test_unassigned_is_restarted_only_after_the_grace_period() -> None:
    connect, clock = ScriptedConnect(status(connector="UNASSIGNED")), Clock()
    watch, _ = supervisor(connect, clock, grace=15.0)
    for t in (0.0, 5.0, 14.9):
        clock.now = t
        watch.check_once()
    assert connect.restarts == []
    clock.now = 15.0
    watch.check_once()
    assert connect.restarts == [{"name": "customers-outbox", "include_tasks": True, "only_failed": False}]


def test_a_task_failed_on_a_lost_slot_is_never_restarted(caplog: pytest.LogCaptureFixture) -> None:
    connect, clock = ScriptedConnect(status(task="FAILED")), Clock()
    watch, states = supervisor(connect, clock, slot_lost=lambda connector: True)
    watch.check_once()
    assert connect.restarts == []
    assert states == ["gave_up"]
    assert "eventing_cdc recover customers-outbox" in caplog.text


def test_a_missing_connector_is_created_from_its_definition() -> None:
    connect, clock = ScriptedConnect(None), Clock()
    watch, _ = supervisor(connect, clock)
    watch.check_once()
    assert connect.applied == ["customers-outbox"]
