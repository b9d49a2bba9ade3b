"""The process launcher's contract with small stand-in programs, under a tmp ``STACK_HOME``.

Start, stop, kill after the grace period, crash reports, pid files and logs: what ``stack up``,
``stack down`` and ``stack status`` show the user about a component, without the real servers.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import executor
from stack.errors import StackError
from stack.executor import (
    ComponentStatus,
    ExternalComponent,
    PortBinding,
    ProcessComponent,
    ensure_free_disk,
    last_line,
    port_holder,
)
from stack.probes import NotReady, TcpProbe
from stack.settings import StackPaths
from stack.testing import eventually
from tests.infra.fakes import free_port, gone, listener_argv, listening

pytestmark = pytest.mark.unit


def component(tmp_path: Path, *flags: str, **overrides: object) -> ProcessComponent:
    """A component running the stand-in listener on a free port, ready when it accepts."""
    port = free_port()
    fields: dict[str, object] = {
        "name": "fake",
        "argv": listener_argv(tmp_path, port, *flags),
        "probe": TcpProbe("127.0.0.1", port, timeout=0.5),
        "paths": StackPaths(tmp_path / "home"),
        "endpoint": f"127.0.0.1:{port}",
        "ports": [PortBinding(port, "FAKE_PORT", "FAKE_URL")],
        "start_timeout": 20.0,
        "stop_timeout": 5.0,
    }
    fields.update(overrides)
    return ProcessComponent(**fields)  # type: ignore[arg-type]


@pytest.fixture
def started() -> Iterator[list[ProcessComponent]]:
    """Components a test starts; each is stopped afterwards (SIGKILL if it must)."""
    components: list[ProcessComponent] = []
    yield components
    for each in components:
        pid = each.running_pid()
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
            eventually(lambda pid=pid: _assert_gone(pid), timeout=10)


def _assert_gone(pid: int) -> None:
    assert gone(pid), f"pid {pid} still runs"


def test_start_records_pid_and_start_time_and_logs_a_header(
    tmp_path: Path, started: list[ProcessComponent]
) -> None:
    fake = component(tmp_path)
    started.append(fake)

    fake.start()

    pid = fake.running_pid()
    assert pid is not None
    recorded_pid, start_time = fake.pid_file.read_text().split()
    assert int(recorded_pid) == pid
    assert start_time == Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    assert fake.pid_file == tmp_path / "home" / "run" / "fake.pid"
    assert fake.log_file == tmp_path / "home" / "logs" / "fake.log"
    log = eventually(lambda: _log_contains(fake, "listening on"))
    assert "===== stack: starting at " in log
    assert " ".join(fake.argv) in log  # type: ignore[arg-type]


def _log_contains(fake: ProcessComponent, text: str) -> str:
    log = fake.log_file.read_text()
    assert text in log, log
    return log


def test_status_of_a_running_healthy_component_is_up(tmp_path: Path, started: list[ProcessComponent]) -> None:
    fake = component(tmp_path)
    started.append(fake)
    fake.start()

    status = fake.status()

    assert status == ComponentStatus("fake", "up", fake.running_pid(), fake.endpoint, None)
    assert status.ok
    assert status.line().split()[:4] == ["fake", "up", "pid", str(fake.running_pid())]
    assert status.line().endswith("healthy")


def test_the_process_runs_detached_with_its_env_and_cwd(
    tmp_path: Path, started: list[ProcessComponent]
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    fake = component(
        tmp_path, "--env", "FAKE_SETTING", env={"FAKE_SETTING": "from-the-component"}, cwd=workdir
    )
    started.append(fake)

    fake.start()

    pid = fake.running_pid()
    assert pid is not None
    log = eventually(lambda: _log_contains(fake, "listening on"))
    assert "FAKE_SETTING=from-the-component" in log
    assert f"cwd={workdir}" in log
    # its own session and process group: `stack down` signals the group, and a Ctrl-C in the
    # terminal that ran `stack up` does not reach it
    assert os.getsid(pid) == pid
    assert os.getpgid(pid) == pid


def test_stop_sends_sigterm_waits_and_removes_the_pid_file(
    tmp_path: Path, started: list[ProcessComponent]
) -> None:
    fake = component(tmp_path)
    started.append(fake)
    fake.start()
    pid = fake.running_pid()
    assert pid is not None

    fake.stop()

    assert gone(pid)
    assert not fake.pid_file.exists()
    assert "got SIGTERM, bye" in fake.log_file.read_text()
    status = fake.status()
    assert (status.state, status.pid, status.health) == ("down", None, "not running")
    assert not status.ok


def test_a_process_ignoring_sigterm_is_killed_after_its_grace_period(
    tmp_path: Path, started: list[ProcessComponent], caplog: pytest.LogCaptureFixture
) -> None:
    fake = component(tmp_path, "--ignore-term", stop_timeout=1.0)
    started.append(fake)
    fake.start()
    pid = fake.running_pid()
    assert pid is not None

    began = time.monotonic()
    with caplog.at_level("WARNING", logger="stack.executor"):
        fake.stop()
    took = time.monotonic() - began

    assert gone(pid)
    assert not fake.pid_file.exists()
    assert took >= 1.0, "SIGKILL came before the grace period ended"
    assert "got SIGTERM" not in fake.log_file.read_text()
    assert "fake: still running after 1s, killing" in caplog.text


def test_a_stop_command_is_how_it_stops_when_given(
    tmp_path: Path, started: list[ProcessComponent], caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "stop-command-ran"
    home = tmp_path / "home"
    # like `pg_ctl stop`: the command itself asks the server to stop (here via its pid file)
    stop = ["sh", "-c", f"touch {marker}; kill -TERM $(cut -d' ' -f1 {home}/run/fake.pid)"]
    fake = component(tmp_path, stop_argv=stop, stop_timeout=20.0)
    started.append(fake)
    fake.start()
    pid = fake.running_pid()
    assert pid is not None

    with caplog.at_level("WARNING", logger="stack.executor"):
        fake.stop()

    assert marker.exists()
    assert gone(pid)
    assert "got SIGTERM, bye" in fake.log_file.read_text()
    assert "killing" not in caplog.text


@pytest.mark.parametrize(
    "stop_argv",
    [["/nonexistent/pg_ctl", "stop"], ["sh", "-c", "echo 'pg_ctl: server does not shut down' >&2; exit 1"]],
    ids=["cannot-run", "exits-non-zero"],
)
def test_a_failing_stop_command_falls_back_to_sigterm_at_once(
    tmp_path: Path, started: list[ProcessComponent], stop_argv: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    fake = component(tmp_path, stop_argv=stop_argv, stop_timeout=20.0)
    started.append(fake)
    fake.start()
    pid = fake.running_pid()
    assert pid is not None

    began = time.monotonic()
    with caplog.at_level("WARNING", logger="stack.executor"):
        fake.stop()

    assert gone(pid)
    assert "got SIGTERM, bye" in fake.log_file.read_text()
    assert time.monotonic() - began < 15, "it waited for the grace period instead of signalling"
    assert "signalling instead" in caplog.text
    assert "killing" not in caplog.text


def test_stop_of_a_component_that_does_not_run_is_quiet_and_clears_a_stale_pid_file(tmp_path: Path) -> None:
    fake = component(tmp_path)
    fake.pid_file.parent.mkdir(parents=True)
    fake.pid_file.write_text("999999999 12345\n")

    fake.stop()

    assert not fake.pid_file.exists()


def test_a_crashed_process_is_reported_down_with_its_stale_pid_file(
    tmp_path: Path, started: list[ProcessComponent]
) -> None:
    fake = component(tmp_path, "--crash-after", "0.5")
    started.append(fake)
    fake.start()
    pid = fake.running_pid()
    assert pid is not None

    status = eventually(lambda: _assert_state(fake, "down"), timeout=20)

    assert status.health == "not running (stale pid file: process gone)"
    assert fake.pid_file.exists()
    assert last_line(fake.log_file) == "fatal: simulated crash"
    assert status.line().split()[:3] == ["fake", "down", "-"]


def _assert_state(fake: ProcessComponent, state: str) -> ComponentStatus:
    status = fake.status()
    assert status.state == state, status
    return status


def test_start_after_a_crash_runs_a_new_process(tmp_path: Path, started: list[ProcessComponent]) -> None:
    fake = component(tmp_path)
    started.append(fake)
    fake.start()
    old = fake.running_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    eventually(lambda: _assert_state(fake, "down"))

    fake.start()

    new = fake.running_pid()
    assert new not in (None, old)
    assert fake.log_file.read_text().count("===== stack: starting at") == 2


def test_a_pid_file_naming_an_unrelated_process_is_not_ours(tmp_path: Path) -> None:
    fake = component(tmp_path)
    fake.pid_file.parent.mkdir(parents=True)
    # our own pid is alive, but with another start time it is a reused pid, not the component
    fake.pid_file.write_text(f"{os.getpid()} 1\n")

    assert fake.running_pid() is None
    assert fake.status().state == "down"
    fake.stop()  # must not signal the test process
    assert not fake.pid_file.exists()


@pytest.mark.parametrize("content", ["", "garbage", "12 34 56", "abc 12"])
def test_a_damaged_pid_file_means_not_running(tmp_path: Path, content: str) -> None:
    fake = component(tmp_path)
    fake.pid_file.parent.mkdir(parents=True)
    fake.pid_file.write_text(content)

    assert fake.running_pid() is None
    assert fake.status().health == "not running (stale pid file: process gone)"


def test_start_when_already_running_does_not_spawn_again_but_runs_after_ready(
    tmp_path: Path, started: list[ProcessComponent]
) -> None:
    calls: list[str] = []
    fake = component(
        tmp_path,
        prepare=[lambda: calls.append("prepare")],
        after_ready=[lambda: calls.append("after_ready")],
    )
    started.append(fake)

    fake.start()
    pid = fake.running_pid()
    fake.start()

    assert fake.running_pid() == pid
    assert calls == ["prepare", "after_ready", "after_ready"]
    assert fake.log_file.read_text().count("===== stack: starting at") == 1


def test_prepare_hooks_run_before_the_process_and_a_failing_one_stops_the_start(tmp_path: Path) -> None:
    def refuse() -> None:
        raise StackError("fake: config invalid")

    fake = component(tmp_path, prepare=[refuse])

    with pytest.raises(StackError, match="fake: config invalid"):
        fake.start()
    assert not fake.pid_file.exists()
    assert not fake.log_file.exists()


def test_a_process_that_never_becomes_healthy_is_reported_with_the_probe_reason(
    tmp_path: Path, started: list[ProcessComponent]
) -> None:
    never = free_port()  # the listener listens elsewhere: the probe never passes
    fake = component(tmp_path, probe=TcpProbe("127.0.0.1", never, timeout=0.2), start_timeout=1.0)
    started.append(fake)

    with pytest.raises(StackError) as raised:
        fake.start()

    message = str(raised.value)
    pid = fake.running_pid()
    assert pid is not None, "a slow process is left running: the next `stack up` waits again"
    assert message.startswith(f"fake (pid {pid}) not healthy after 1s: 127.0.0.1:{never}: ")
    assert "Connection refused" in message
    assert message.endswith(f"see {fake.log_file}")


def test_a_process_exiting_during_start_up_names_its_last_log_line_and_leaves_no_pid_file(
    tmp_path: Path,
) -> None:
    script = "import sys\nprint('starting')\nprint('FATAL: data directory is locked')\nsys.exit(1)"
    fake = component(tmp_path, argv=[sys.executable, "-c", script])

    with pytest.raises(StackError) as raised:
        fake.start()

    assert str(raised.value) == (
        f"fake exited during start-up; last log line: 'FATAL: data directory is locked'; see {fake.log_file}"
    )
    assert not fake.pid_file.exists()


def test_a_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    fake = component(tmp_path, argv=[str(tmp_path / "bin" / "nonexistent-server"), "--port", "1"])

    with pytest.raises(StackError, match=r"fake: cannot run .*nonexistent-server: No such file or directory"):
        fake.start()
    assert not fake.pid_file.exists()


def test_argv_may_be_computed_just_before_the_start(tmp_path: Path, started: list[ProcessComponent]) -> None:
    port = free_port()
    built: list[str] = []

    def argv() -> list[str]:
        built.append("now")
        return listener_argv(tmp_path, port)

    fake = component(tmp_path, argv=argv, probe=TcpProbe("127.0.0.1", port), ports=[])
    started.append(fake)
    assert built == []  # declaring the component checks nothing (e.g. no `java` lookup)

    fake.start()

    assert built == ["now"]
    assert fake.status().state == "up"


def test_a_failing_argv_check_stops_the_start_with_its_message(tmp_path: Path) -> None:
    def argv() -> list[str]:
        raise StackError("Java 17+ is required; no `java` on PATH")

    fake = component(tmp_path, argv=argv)

    with pytest.raises(StackError, match="Java 17"):
        fake.start()
    assert not fake.pid_file.exists()


def _holder_of_this_process() -> str:
    command = " ".join(a.decode() for a in Path("/proc/self/cmdline").read_bytes().split(b"\0") if a)
    return f"pid {os.getpid()}: {command[:120]}"


def test_a_taken_port_names_the_port_the_component_the_holder_and_both_variables(tmp_path: Path) -> None:
    with listening() as squatter:
        port = squatter.getsockname()[1]
        fake = component(tmp_path, ports=[PortBinding(port, "FAKE_PORT", "FAKE_URL")])
        with pytest.raises(StackError) as raised:
            fake.start()

    assert str(raised.value) == (
        f"port {port} needed by fake is already in use by another process ({_holder_of_this_process()}); "
        "set FAKE_PORT to a free port, or set FAKE_URL to use that server"
    )
    assert not fake.log_file.exists(), "nothing was started"


def test_a_port_taken_by_another_program_names_its_pid_and_command_line(
    tmp_path: Path, started: list[ProcessComponent]
) -> None:
    squatter = component(tmp_path, name="squatter")
    started.append(squatter)
    squatter.start()
    port = squatter.ports[0].port
    fake = component(tmp_path, ports=[PortBinding(port, "FAKE_PORT")])

    with pytest.raises(StackError) as raised:
        fake.start()

    argv = " ".join(squatter.argv)  # type: ignore[arg-type]
    assert f"already in use by another process (pid {squatter.running_pid()}: {argv}); " in str(raised.value)


def test_a_port_bound_but_not_listening_falls_back_to_the_system_error(tmp_path: Path) -> None:
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # no listen(): /proc shows no listener to name
        port = bound.getsockname()[1]
        fake = component(tmp_path, ports=[PortBinding(port, "FAKE_PORT")])
        with pytest.raises(StackError) as raised:
            fake.start()

    assert "already in use by another process (Address already in use); set FAKE_PORT" in str(raised.value)


def test_port_holder_of_a_free_port_is_none() -> None:
    assert port_holder(free_port()) is None


def test_a_taken_port_without_an_attach_variable_only_names_the_port_variable(tmp_path: Path) -> None:
    with listening() as squatter:
        port = squatter.getsockname()[1]
        fake = component(tmp_path, ports=[PortBinding(port, "FAKE_METRICS_PORT")])
        with pytest.raises(StackError) as raised:
            fake.start()

    assert str(raised.value).endswith("; set FAKE_METRICS_PORT to a free port")


def test_every_port_is_checked_not_only_the_first(tmp_path: Path) -> None:
    with listening() as squatter:
        taken = squatter.getsockname()[1]
        fake = component(
            tmp_path,
            ports=[PortBinding(free_port(), "FAKE_PORT"), PortBinding(taken, "FAKE_CONTROLLER_PORT")],
        )
        with pytest.raises(StackError, match=f"port {taken} needed by fake .* FAKE_CONTROLLER_PORT"):
            fake.start()


def test_port_binding_of_a_registered_port_carries_its_variables() -> None:
    binding = PortBinding.of("kafka", {"kafka": 19092})

    assert binding == PortBinding(19092, "KAFKA_PORT", "KAFKA_BOOTSTRAP_SERVERS")
    assert PortBinding.of("orders-consumer", {"orders-consumer": 1}).attach_var is None


def test_a_large_log_is_rotated_at_start(
    tmp_path: Path, started: list[ProcessComponent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor, "LOG_ROTATE_BYTES", 100)
    fake = component(tmp_path)
    started.append(fake)
    fake.log_file.parent.mkdir(parents=True)
    fake.log_file.write_text("old line\n" * 50)

    fake.start()

    rotated = fake.log_file.with_name("fake.log.1")
    assert rotated.read_text() == "old line\n" * 50
    assert "old line" not in fake.log_file.read_text()


def test_a_small_log_is_appended_to(tmp_path: Path, started: list[ProcessComponent]) -> None:
    fake = component(tmp_path)
    started.append(fake)
    fake.log_file.parent.mkdir(parents=True)
    fake.log_file.write_text("previous run\n")

    fake.start()

    assert fake.log_file.read_text().startswith("previous run\n")
    assert not fake.log_file.with_name("fake.log.1").exists()


def test_install_installs_only_missing_distributions(tmp_path: Path) -> None:
    class Dist:
        def __init__(self, name: str, present: bool) -> None:
            self.name, self.present, self.installs = name, present, 0

        def installed(self) -> bool:
            return self.present

        def install(self) -> None:
            self.installs += 1

    present, missing = Dist("present", True), Dist("missing", False)
    fake = component(tmp_path, distributions=[present, missing])

    fake.install()

    assert (present.installs, missing.installs) == (0, 1)


def test_start_refuses_when_the_disk_is_nearly_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "MIN_FREE_BYTES_TO_START", 2**62)
    fake = component(tmp_path)

    with pytest.raises(StackError, match=r"MiB free on the disk holding .*home; need \d+ MiB to start fake"):
        fake.start()
    assert not fake.pid_file.exists()


def test_ensure_free_disk_accepts_enough_space(tmp_path: Path) -> None:
    ensure_free_disk(tmp_path / "a" / "b", 1, "test")  # no error: 1 byte is free


def test_ensure_free_disk_names_the_purpose_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StackError) as raised:
        ensure_free_disk(tmp_path, 2**62, "download Kafka")

    assert "to download Kafka: free some space (or point STACK_HOME elsewhere)" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("first\nsecond\n\n\n", "second"),
        (
            "ERROR Startup failed: port in use\n"
            "\tat org.apache.kafka.Foo.bar(Foo.java:12)\n"
            "\tat org.apache.kafka.Foo.main(Foo.java:3)\n"
            "\t... 12 more\n",
            "ERROR Startup failed: port in use",
        ),
        ("\n\n", ""),
        ("", ""),
    ],
)
def test_last_line_skips_blank_lines_and_java_stack_frames(tmp_path: Path, text: str, expected: str) -> None:
    log = tmp_path / "x.log"
    log.write_text(text)

    assert last_line(log) == expected


def test_last_line_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert last_line(tmp_path / "never-written.log") == ""


def test_last_line_reads_only_the_tail_of_a_large_log(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_bytes(b"x" * 100_000 + b"\nthe end\n")

    assert last_line(log) == "the end"


def test_last_line_survives_invalid_utf8(tmp_path: Path) -> None:
    log = tmp_path / "binary.log"
    log.write_bytes(b"ok\n\xff\xfe broken \xff\n")

    assert "broken" in last_line(log)


class TestExternalComponent:
    """Attach mode: a server we do not run is checked, never started or stopped."""

    def test_a_reachable_server_is_external_and_its_hooks_run(self) -> None:
        calls: list[str] = []
        with listening() as server:
            port = server.getsockname()[1]
            attached = ExternalComponent(
                name="kafka",
                endpoint=f"127.0.0.1:{port}",
                probe=TcpProbe("127.0.0.1", port),
                attach_var="KAFKA_BOOTSTRAP_SERVERS",
                after_ready=[lambda: calls.append("create topics")],
            )

            attached.start()
            status = attached.status()

        assert calls == ["create topics"]
        assert status == ComponentStatus("kafka", "external", None, f"127.0.0.1:{port}", None)
        assert status.ok

    def test_an_unreachable_server_says_which_variable_to_fix(self) -> None:
        port = free_port()
        attached = ExternalComponent(
            name="postgres",
            endpoint=f"db.example:{port}",
            probe=TcpProbe("127.0.0.1", port, timeout=0.2),
            attach_var="POSTGRES_URL",
            timeout=0.5,
        )

        with pytest.raises(StackError) as raised:
            attached.start()

        message = str(raised.value)
        assert message.startswith(
            f"postgres: POSTGRES_URL=db.example:{port} is not reachable (127.0.0.1:{port}: "
        )
        assert message.endswith("start that server, or unset POSTGRES_URL to run a local postgres")
        status = attached.status()
        assert status.state == "unreachable"
        assert not status.ok
        assert status.health is not None and str(port) in status.health

    def test_stop_leaves_the_server_alone(self) -> None:
        def probe() -> None:
            raise NotReady("never probed")

        attached = ExternalComponent("connect", "http://c:8083", probe, "CONNECT_URL")

        attached.stop()  # no signal, no error, no probe
        attached.install()

        assert attached.status().health == "never probed"


def test_the_status_line_is_column_aligned() -> None:
    up = ComponentStatus("postgres", "up", 1234, "postgresql://127.0.0.1:5432", None).line()
    down = ComponentStatus("orders-consumer", "down", None, "consumer group g", "not running").line()

    assert up.index("up") == down.index("down") == 21
    assert up.index("pid 1234") == down.index(" - ") + 1 == 33
    assert up.endswith(" healthy")
    assert down.endswith(" not running")
