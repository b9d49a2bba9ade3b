"""What the connector supervisor records, as the doctor and the ``cdc`` health check read it:
a connector it gave up on is an error until it runs again."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from eventing import cdc
from eventing.connect.client import ConnectClient
from eventing.connect.debezium import DatabaseEndpoint, outbox_connector
from eventing.connect.models import ConnectorSupervision
from eventing.connect.supervisor import ConnectorSupervisor, record_supervision
from eventing.consumer.retry import Backoff

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONNECTOR = outbox_connector("records-outbox", DatabaseEndpoint("h", 5432, "d", "u", "p"))
TRACE = "org.apache.kafka.connect.errors.ConnectException: database refused\n\tat x"


class Connect:
    def __init__(self) -> None:
        self.task = "FAILED"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={})
        task = {"id": 0, "state": self.task, "trace": TRACE if self.task == "FAILED" else None}
        return httpx.Response(200, json={"connector": {"state": "RUNNING"}, "tasks": [task]})


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def supervised() -> tuple[ConnectorSupervisor, Connect, Clock]:
    connect, clock = Connect(), Clock()
    client = ConnectClient("http://connect:8083")
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(connect))
    supervisor = ConnectorSupervisor(
        client,
        [CONNECTOR],
        max_restarts=2,
        backoff=Backoff(initial=1.0, multiplier=1.0, maximum=1.0, jitter=0.0),
        clock=clock,
        record=record_supervision,
    )
    return supervisor, connect, clock


def row() -> ConnectorSupervision:
    return ConnectorSupervision.objects.get(connector=CONNECTOR.name)


def check(supervised: Any, times: int = 1) -> None:
    supervisor, _connect, clock = supervised
    for _ in range(times):
        supervisor.check_once()
        clock.now += 5


def test_restarts_are_recorded_with_the_error_and_the_process(supervised: Any) -> None:
    check(supervised)
    recorded = row()
    assert (recorded.state, recorded.restarts, recorded.total_restarts) == ("restarting", 1, 1)
    assert recorded.last_error.startswith(
        "org.apache.kafka.connect.errors.ConnectException: database refused"
    )
    assert recorded.last_restart_at is not None and recorded.pid == os.getpid()
    assert cdc.supervision_findings(CONNECTOR.name) == []  # restarting is not yet an error


def test_giving_up_is_an_error_finding_until_the_connector_runs_again(supervised: Any) -> None:
    check(supervised, times=3)  # two restarts, then it gives up
    assert row().state == "gave_up"
    (finding,) = cdc.supervision_findings(CONNECTOR.name)
    assert (finding.id, finding.severity) == ("CDC120", "error")
    assert (
        "gave up after 2 restarts: 2 restarts did not help. Last error: org.apache.kafka" in finding.message
    )
    # fixed by hand: the connector runs again, the supervisor no longer has given up
    supervised[1].task = "RUNNING"
    check(supervised)
    assert row().state == "restarting"  # it ran, not yet for `stable` seconds
    assert cdc.supervision_findings(CONNECTOR.name) == []
    supervised[2].now += 120
    check(supervised)
    recorded = row()
    assert (recorded.state, recorded.restarts, recorded.total_restarts, recorded.last_error) == (
        "running",
        0,
        2,
        "",
    )
