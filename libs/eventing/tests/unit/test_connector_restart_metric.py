"""The supervisor's restarts show in ``eventing_connector_restarts_total``."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from tests.unit.test_supervisor import Clock, ScriptedConnect, status, supervisor

pytestmark = pytest.mark.unit


def restarts() -> float:
    labels = {"connector": "customers-outbox", "task": ""}
    return REGISTRY.get_sample_value("eventing_connector_restarts_total", labels) or 0.0


def test_each_restart_by_the_supervisor_is_counted() -> None:
    # Given a connector whose task stays FAILED
    connect, clock = ScriptedConnect(status(task="FAILED")), Clock()
    watch, _ = supervisor(connect, clock)
    before = restarts()
    # When the supervisor restarts it twice (2 s backoff between)
    watch.check_once()
    clock.now = 2.0
    watch.check_once()
    # Then the counter went up by two, as many as Connect was asked to restart
    assert len(connect.restarts) == 2
    assert restarts() == before + 2
    # And a healthy connector adds nothing
    connect.current = status()
    clock.now = 100.0
    watch.check_once()
    assert restarts() == before + 2


def test_supervise_refuses_a_taken_metrics_port_by_address() -> None:
    import socket

    from django.core.management import CommandError, call_command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"Cannot serve metrics on 127.0.0.1:{port}"):
            call_command("eventing_connectors", "supervise", "--metrics-port", str(port))
