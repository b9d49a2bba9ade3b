"""The generic process launcher, exercised with a throwaway HTTP server (no stack needed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.errors import StackError
from stack.executor import ComponentStatus, PortBinding, ProcessComponent
from stack.probes import HttpProbe
from stack.settings import StackPaths
from stack.testing import eventually

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def web(tmp_path: Path) -> Iterator[ProcessComponent]:
    """A ProcessComponent running ``python -m http.server`` on a free port."""
    port = free_port()
    component = ProcessComponent(
        name="web",
        argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        probe=HttpProbe(f"http://127.0.0.1:{port}/"),
        paths=StackPaths(tmp_path),
        endpoint=f"http://127.0.0.1:{port}",
        ports=[PortBinding(port, "WEB_PORT", "WEB_URL")],
        cwd=tmp_path,
        start_timeout=20,
        stop_timeout=5,
    )
    yield component
    component.stop()


def test_start_waits_until_healthy_and_is_idempotent(web: ProcessComponent) -> None:
    web.start()
    pid = web.running_pid()

    web.start()

    assert pid is not None
    assert web.running_pid() == pid
    assert web.status() == ComponentStatus("web", "up", pid, web.endpoint, None)
    assert "starting at" in web.log_file.read_text()


def test_a_killed_process_shows_down_and_start_brings_it_back(web: ProcessComponent) -> None:
    # Given a running component that crashes
    web.start()
    old_pid = web.running_pid()
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)

    # Then its status is down, with the stale pid file noticed
    status = eventually(lambda: _assert_down(web))
    assert "stale pid file" in str(status.health)

    # When it is started again, it runs under a new pid
    web.start()
    assert web.running_pid() not in (None, old_pid)


def test_stop_terminates_and_removes_the_pid_file(web: ProcessComponent) -> None:
    web.start()
    pid = web.running_pid()

    web.stop()

    assert pid is not None
    assert _gone(pid)
    assert not web.pid_file.exists()
    assert web.status().state == "down"


def test_a_port_taken_by_someone_else_names_port_component_and_variables(
    web: ProcessComponent,
) -> None:
    port = web.ports[0].port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(StackError) as error:
            web.start()

    message = str(error.value)
    assert f"port {port} needed by web" in message
    assert "set WEB_PORT to a free port" in message
    assert "set WEB_URL to use that server" in message


def test_a_process_that_exits_during_start_up_reports_its_last_log_line(tmp_path: Path) -> None:
    broken = ProcessComponent(
        name="broken",
        argv=[sys.executable, "-c", "import sys; print('cannot bind: boom'); sys.exit(3)"],
        probe=HttpProbe(f"http://127.0.0.1:{free_port()}/"),
        paths=StackPaths(tmp_path),
        endpoint="nowhere",
        start_timeout=20,
    )

    with pytest.raises(StackError, match="broken exited during start-up; last log line: 'cannot bind: boom'"):
        broken.start()
    assert not broken.pid_file.exists()


def test_the_cli_reports_errors_on_one_line_without_traceback(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "stack", "up", "postgres"],
            env={**os.environ, "STACK_HOME": str(tmp_path), "POSTGRES_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    # the squatter is this test's own process: the message names its pid and command line
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"stack: error: port {port} needed by postgres is already in use by another process "
        f"(pid {os.getpid()}: "
    )
    assert last.endswith("); set POSTGRES_PORT to a free port, or set POSTGRES_URL to use that server")
    assert "Traceback" not in result.stderr


def _assert_down(component: ProcessComponent) -> ComponentStatus:
    status = component.status()
    assert status.state == "down", status
    return status


def _gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie waiting for its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
