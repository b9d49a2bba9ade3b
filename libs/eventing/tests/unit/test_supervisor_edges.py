"""The connector supervisor on the cases its scripted tests leave out: an error status from
Connect, several connectors, paused connectors, a connector given up on that stays broken."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from eventing.connect.client import ConnectClient
from eventing.connect.debezium import DatabaseEndpoint, outbox_connector
from eventing.connect.supervisor import ConnectorSupervisor, problem_of
from eventing.consumer.retry import Backoff

pytestmark = pytest.mark.unit

DB = DatabaseEndpoint("h", 5432, "d", "u", "p")
ORDERS, CUSTOMERS = outbox_connector("orders-outbox", DB), outbox_connector("customers-outbox", DB)
FAILED = {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "FAILED", "trace": "boom"}]}
RUNNING = {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}


class Connect:
    """A Connect REST API over httpx's mock transport: a status (or an error) per connector."""

    def __init__(self, statuses: dict[str, Any]) -> None:
        self.statuses = statuses
        self.restarted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        name = parts[1]
        if request.method == "POST" and parts[-1] == "restart":
            self.restarted.append(name)
            return httpx.Response(202, json={})
        answer = self.statuses.get(name)
        if isinstance(answer, int):
            return httpx.Response(answer, text="Cannot complete request because of a conflicting operation")
        if answer is None:
            return httpx.Response(404, json={"message": "not found"})
        return httpx.Response(200, json=answer)

    def client(self) -> ConnectClient:
        client = ConnectClient("http://connect:8083")
        client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(self))
        return client


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def supervise(
    connect: Connect, clock: Clock, *connectors: Any, **kwargs: Any
) -> tuple[ConnectorSupervisor, list[tuple[str, str]]]:
    states: list[tuple[str, str]] = []
    supervisor = ConnectorSupervisor(
        connect.client(),
        list(connectors),
        backoff=Backoff(initial=2.0, multiplier=2.0, maximum=60.0, jitter=0.0),
        clock=clock,
        record=lambda name, episode, state: states.append((name, state)),
        **kwargs,
    )
    return supervisor, states


def test_an_error_status_of_one_connector_is_logged_and_the_others_are_still_supervised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Connect answers 409 for one connector (a rebalance in progress), the other one failed
    connect = Connect({"orders-outbox": 409, "customers-outbox": FAILED})
    supervisor, _ = supervise(connect, Clock(), ORDERS, CUSTOMERS)
    supervisor.check_once()
    assert connect.restarted == ["customers-outbox"]
    assert any("orders-outbox" in r.getMessage() and "409" in r.getMessage() for r in caplog.records)


def test_an_unreachable_connect_does_not_stop_the_supervisor_loop() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client = ConnectClient("http://connect:8083")
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(refuse))
    stop = threading.Event()
    checks = {"n": 0}
    supervisor = ConnectorSupervisor(client, [ORDERS])
    original = supervisor.check_once

    def counted() -> None:
        checks["n"] += 1
        original()
        if checks["n"] == 3:
            stop.set()

    supervisor.check_once = counted  # type: ignore[method-assign]
    supervisor.run(stop, interval=0)
    assert checks["n"] == 3


@pytest.mark.parametrize("state", ["PAUSED", "STOPPED"])
def test_a_connector_paused_or_stopped_on_purpose_is_left_alone(state: str) -> None:
    status = {"connector": {"state": state}, "tasks": []}
    assert problem_of(status) is None
    connect = Connect({"orders-outbox": status})
    clock = Clock()
    supervisor, states = supervise(connect, clock, ORDERS, grace=0)
    for _ in range(3):
        clock.now += 100
        supervisor.check_once()
    assert connect.restarted == []
    assert states == [("orders-outbox", "running")] * 3


def test_a_failed_connector_itself_is_restarted_with_only_its_failed_parts() -> None:
    assert problem_of({"connector": {"state": "FAILED", "trace": "no class"}, "tasks": []}) == (
        "failed",
        "no class",
    )
    assert problem_of({"connector": {"state": "FAILED"}, "tasks": []}) == ("failed", "no trace")


def test_given_up_a_connector_that_stays_broken_is_not_restarted_and_keeps_its_reason() -> None:
    connect = Connect({"orders-outbox": FAILED})
    clock = Clock()
    supervisor, states = supervise(connect, clock, ORDERS, max_restarts=1)
    supervisor.check_once()  # restart 1
    clock.now += 10
    supervisor.check_once()  # gives up
    episode = supervisor.episodes["orders-outbox"]
    reason = episode.last_error
    assert episode.gave_up and reason.startswith("1 restarts did not help. Last error: boom")
    for _ in range(5):
        clock.now += 1000
        supervisor.check_once()
    assert connect.restarted == ["orders-outbox"]
    assert states[-1] == ("orders-outbox", "gave_up")
    assert supervisor.episodes["orders-outbox"].last_error == reason


def test_restarts_of_connectors_are_counted_apart_and_backed_off_each_on_its_own() -> None:
    connect = Connect({"orders-outbox": FAILED, "customers-outbox": FAILED})
    clock = Clock()
    supervisor, _ = supervise(connect, clock, ORDERS, CUSTOMERS)
    supervisor.check_once()
    connect.statuses["customers-outbox"] = RUNNING
    clock.now = 2.0  # orders' first backoff (2 s) has passed
    supervisor.check_once()
    assert connect.restarted == ["orders-outbox", "customers-outbox", "orders-outbox"]
    assert supervisor.episodes["orders-outbox"].restarts == 2
    assert supervisor.episodes["customers-outbox"].restarts == 1
    assert supervisor.episodes["orders-outbox"].next_at == 2.0 + 4.0
