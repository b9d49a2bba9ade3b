"""The Kafka Connect REST client against a scripted Connect (httpx's mock transport, no I/O).

What an operator sees: an unreachable worker or a refused request is a ``ConnectorError``
naming the URL or the connector and Connect's own message; applying is idempotent; waiting
for RUNNING reports the failing task's trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from eventing.connect.client import ConnectClient
from eventing.connect.debezium import Connector
from eventing.exceptions import ConnectorError

pytestmark = pytest.mark.unit

CONNECTOR = Connector("orders-outbox", {"connector.class": "x.Y", "tasks.max": "1"})
TRACE = "org.apache.kafka.connect.errors.ConnectException: slot in use\n\tat io.debezium..."


class ScriptedConnect:
    """Answers each (method, path) with a scripted response and records every request."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, status: int = 200, body: Any = None, text: str = "") -> None:
        def respond(request: httpx.Request) -> httpx.Response:
            if body is not None:
                return httpx.Response(status, json=body)
            return httpx.Response(status, text=text)

        self.routes[(method, path)] = respond

    def sequence(self, method: str, path: str, bodies: list[dict[str, Any]]) -> None:
        """Answer with each body in turn, then the last one forever."""
        remaining = list(bodies)

        def respond(request: httpx.Request) -> httpx.Response:
            body = remaining.pop(0) if len(remaining) > 1 else remaining[0]
            return httpx.Response(200, json=body)

        self.routes[(method, path)] = respond

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, json={"error_code": 404, "message": "not found"})
        return route(request)

    def sent(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


def client_of(connect: Callable[[httpx.Request], httpx.Response]) -> ConnectClient:
    client = ConnectClient("http://connect:8083/")
    client._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(connect))
    return client


def running(tasks: int = 1, state: str = "RUNNING") -> dict[str, Any]:
    return {
        "name": CONNECTOR.name,
        "connector": {"state": state},
        "tasks": [{"id": i, "state": state} for i in range(tasks)],
    }


@pytest.fixture
def connect() -> ScriptedConnect:
    return ScriptedConnect()


# -- apply: create or update, idempotently ---------------------------------------------------


def test_applying_a_new_connector_puts_its_config(connect: ScriptedConnect) -> None:
    connect.on("PUT", "/connectors/orders-outbox/config", 201, body={"name": CONNECTOR.name})
    assert client_of(connect).apply(CONNECTOR) is True
    (put,) = connect.sent("PUT")
    assert json.loads(put.content) == CONNECTOR.config


def test_applying_an_unchanged_config_changes_nothing(connect: ScriptedConnect) -> None:
    # Connect echoes the config with the connector's name added
    connect.on("GET", "/connectors/orders-outbox/config", body={**CONNECTOR.config, "name": CONNECTOR.name})
    assert client_of(connect).apply(CONNECTOR) is False
    assert connect.sent("PUT") == []


def test_applying_a_changed_config_updates_it(connect: ScriptedConnect) -> None:
    connect.on("GET", "/connectors/orders-outbox/config", body={**CONNECTOR.config, "tasks.max": "2"})
    connect.on("PUT", "/connectors/orders-outbox/config", 200, body={"name": CONNECTOR.name})
    assert client_of(connect).apply(CONNECTOR) is True
    assert json.loads(connect.sent("PUT")[0].content)["tasks.max"] == "1"


def test_a_refused_config_raises_with_connects_message_and_status(connect: ScriptedConnect) -> None:
    message = "Connector configuration is invalid and contains 1 error: slot.name is required"
    connect.on("PUT", "/connectors/orders-outbox/config", 400, text=message)
    with pytest.raises(ConnectorError) as raised:
        client_of(connect).apply(CONNECTOR)
    assert "slot.name is required" in str(raised.value)
    assert raised.value.context == {"connector": "orders-outbox", "status": 400}


def test_an_unreachable_worker_is_a_connector_error_naming_its_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ConnectorError) as raised:
        client_of(refuse).apply(CONNECTOR)
    assert "Kafka Connect unreachable at http://connect:8083" in str(raised.value)
    assert "Connection refused" in str(raised.value)
    assert raised.value.context == {"path": "/connectors/orders-outbox/config"}


def test_a_worker_that_times_out_is_a_connector_error_too() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ConnectorError, match="unreachable"):
        client_of(hang).status("orders-outbox")


# -- status and waiting for RUNNING ----------------------------------------------------------


def test_the_status_of_an_unknown_connector_is_none(connect: ScriptedConnect) -> None:
    assert client_of(connect).status("nope") is None


def test_waiting_returns_once_the_connector_and_all_its_tasks_run(connect: ScriptedConnect) -> None:
    connect.sequence(
        "GET",
        "/connectors/orders-outbox/status",
        [
            {"connector": {"state": "UNASSIGNED"}, "tasks": []},
            {"connector": {"state": "RUNNING"}, "tasks": []},  # no task yet: not running
            {
                "connector": {"state": "RUNNING"},
                "tasks": [{"id": 0, "state": "RUNNING"}, {"id": 1, "state": "UNASSIGNED"}],
            },
            running(tasks=2),
        ],
    )
    client_of(connect).wait_running("orders-outbox", timeout=10, interval=0)
    assert len(connect.sent("GET")) == 4


def test_waiting_on_a_failed_task_raises_with_its_trace(connect: ScriptedConnect) -> None:
    connect.on(
        "GET",
        "/connectors/orders-outbox/status",
        body={
            "connector": {"state": "RUNNING"},
            "tasks": [{"id": 0, "state": "RUNNING"}, {"id": 1, "state": "FAILED", "trace": TRACE}],
        },
    )
    with pytest.raises(ConnectorError) as raised:
        client_of(connect).wait_running("orders-outbox", timeout=10, interval=0)
    assert str(raised.value).startswith("Connector orders-outbox failed:")
    assert "slot in use" in str(raised.value)


def test_waiting_on_a_failed_connector_raises_with_the_connectors_trace(connect: ScriptedConnect) -> None:
    connect.on(
        "GET",
        "/connectors/orders-outbox/status",
        body={"connector": {"state": "FAILED", "trace": "bad connector.class"}, "tasks": []},
    )
    with pytest.raises(ConnectorError, match=r"bad connector\.class"):
        client_of(connect).wait_running("orders-outbox", timeout=10, interval=0)


def test_waiting_times_out_with_the_last_status_seen(connect: ScriptedConnect) -> None:
    stuck = {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "UNASSIGNED"}]}
    connect.on("GET", "/connectors/orders-outbox/status", body=stuck)
    with pytest.raises(ConnectorError) as raised:
        client_of(connect).wait_running("orders-outbox", timeout=0.05, interval=0.01)
    assert "not RUNNING after 0s" in str(raised.value)
    assert raised.value.context == {"status": stuck}


def test_waiting_for_a_connector_that_never_appears_times_out_with_no_status(
    connect: ScriptedConnect,
) -> None:
    with pytest.raises(ConnectorError) as raised:
        client_of(connect).wait_running("missing", timeout=0.05, interval=0.01)
    assert raised.value.context == {"status": None}


def test_waiting_for_a_state_returns_when_it_is_reported(connect: ScriptedConnect) -> None:
    connect.sequence("GET", "/connectors/orders-outbox/status", [running(), running(state="STOPPED")])
    client_of(connect).wait_state("orders-outbox", "STOPPED", timeout=10, interval=0)
    with pytest.raises(ConnectorError, match="not PAUSED after"):
        client_of(connect).wait_state("orders-outbox", "PAUSED", timeout=0.05, interval=0.01)


# -- offsets, restart, stop, resume, delete --------------------------------------------------


def test_offsets_are_read_and_an_unknown_connector_has_none(connect: ScriptedConnect) -> None:
    stored = [{"partition": {"server": "orders"}, "offset": {"lsn": 123}}]
    connect.on("GET", "/connectors/orders-outbox/offsets", body={"offsets": stored})
    client = client_of(connect)
    assert client.offsets("orders-outbox") == stored
    assert client.offsets("other") == []


def test_reading_offsets_from_an_old_worker_is_refused_with_its_answer(connect: ScriptedConnect) -> None:
    connect.on("GET", "/connectors/orders-outbox/offsets", 405, text="HTTP 405 Method Not Allowed")
    with pytest.raises(ConnectorError) as raised:
        client_of(connect).offsets("orders-outbox")
    assert "refused the request for orders-outbox: 405 HTTP 405 Method Not Allowed" in str(raised.value)


def test_restart_asks_for_the_tasks_and_only_the_failed_ones_when_told(connect: ScriptedConnect) -> None:
    connect.on("POST", "/connectors/orders-outbox/restart", 202, body={})
    client = client_of(connect)
    client.restart("orders-outbox")
    client.restart("orders-outbox", include_tasks=False, only_failed=True)
    first, second = connect.sent("POST")
    assert dict(first.url.params) == {"includeTasks": "true", "onlyFailed": "false"}
    assert dict(second.url.params) == {"includeTasks": "false", "onlyFailed": "true"}


@pytest.mark.parametrize(
    ("call", "method", "path"),
    [
        (lambda c: c.restart("orders-outbox"), "POST", "/connectors/orders-outbox/restart"),
        (lambda c: c.stop("orders-outbox"), "PUT", "/connectors/orders-outbox/stop"),
        (lambda c: c.resume("orders-outbox"), "PUT", "/connectors/orders-outbox/resume"),
        (lambda c: c.reset_offsets("orders-outbox"), "DELETE", "/connectors/orders-outbox/offsets"),
    ],
)
def test_a_refused_lifecycle_request_raises_with_connects_message(
    connect: ScriptedConnect, call: Callable[[ConnectClient], None], method: str, path: str
) -> None:
    message = "Connectors must be in the STOPPED state before their offsets can be modified"
    connect.on(method, path, 400, text=message)
    with pytest.raises(ConnectorError) as raised:
        call(client_of(connect))
    assert message in str(raised.value)
    assert raised.value.context == {"connector": "orders-outbox"}


def test_lifecycle_requests_that_succeed_raise_nothing(connect: ScriptedConnect) -> None:
    for method, path in [("PUT", "stop"), ("PUT", "resume"), ("DELETE", "offsets")]:
        connect.on(method, f"/connectors/orders-outbox/{path}", 202, body={})
    client = client_of(connect)
    client.stop("orders-outbox")
    client.resume("orders-outbox")
    client.reset_offsets("orders-outbox")
    assert [(r.method, r.url.path) for r in connect.requests] == [
        ("PUT", "/connectors/orders-outbox/stop"),
        ("PUT", "/connectors/orders-outbox/resume"),
        ("DELETE", "/connectors/orders-outbox/offsets"),
    ]


def test_delete_reports_whether_a_connector_was_deleted(connect: ScriptedConnect) -> None:
    connect.on("DELETE", "/connectors/orders-outbox", 204)
    client = client_of(connect)
    assert client.delete("orders-outbox") is True
    assert client.delete("never-existed") is False


def test_an_error_status_while_the_workers_rebalance_is_a_connector_error(connect: ScriptedConnect) -> None:
    message = (
        "Cannot complete request momentarily due to stale configuration "
        "(typically caused by a concurrent config change)"
    )
    connect.on("GET", "/connectors/orders-outbox/status", 409, text=message)
    with pytest.raises(ConnectorError) as raised:
        client_of(connect).status("orders-outbox")
    assert "409" in str(raised.value) and "stale configuration" in str(raised.value)
