"""Read-only checks against the running stack named by ``STACK_HOME``: nothing is started,
stopped or changed (no ``stack`` fixture: it would run ``up``'s after-ready hooks)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stack import api
from stack.probes import TcpProbe, check
from stack.settings import LOOPBACK, Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def running() -> Settings:
    settings = Settings.from_env()
    if not any(status.state == "up" for status in api.status()):
        pytest.skip(f"no stack runs under STACK_HOME={settings.paths.home}")
    return settings


def test_stack_status_of_the_running_stack_exits_0_with_every_component_up(running: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stack", "status"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split()[0] for line in lines] == [c.name for c in api.components()]
    assert all(line.split()[1] == "up" and line.endswith("healthy") for line in lines), result.stdout


def test_every_listening_port_answers_a_tcp_probe(running: Settings) -> None:
    reasons = {name: check(TcpProbe(LOOPBACK, port)) for name, port in running.ports.items()}

    assert {name: reason for name, reason in reasons.items() if reason is not None} == {}


def test_each_status_pid_is_a_live_process_with_its_pid_file(running: Settings) -> None:
    for status in api.status():
        assert status.pid is not None, status
        recorded = int(running.paths.pid(status.name).read_text().split()[0])
        assert recorded == status.pid
        assert os.path.exists(f"/proc/{status.pid}")
