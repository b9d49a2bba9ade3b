"""The ``stack`` command: exit codes and output, under a tmp ``STACK_HOME`` (nothing runs there).

With an empty ``STACK_HOME`` no component has a pid file, so every command here only reads
files and environment variables: none starts, stops or probes a server of the shared stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack import api
from stack.__main__ import main
from stack.settings import PORTS, Settings

pytestmark = pytest.mark.unit

ALL_COMPONENTS = [
    "postgres",
    "kafka",
    "registry",
    "connect",
    "customers",
    "customers-supervisor",
    "orders",
    "orders-consumer",
    "orders-supervisor",
    "points",
    "points-consumer",
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty STACK_HOME, and no attach variables from the caller's shell."""
    for spec in PORTS.values():
        monkeypatch.delenv(spec.env_var, raising=False)
    for var in (
        "POSTGRES_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "SCHEMA_REGISTRY_URL",
        "APICURIO_REGISTRY_URL",
        "CONNECT_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STACK_HOME", str(tmp_path / "stack"))
    assert Settings.from_env().paths.home == tmp_path / "stack"
    return tmp_path / "stack"


def test_help_lists_every_command_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: stack ")
    for command in ("install", "up", "down", "status", "logs", "reset", "env"):
        assert f"    {command} " in out, f"{command} missing from --help"


def test_an_unknown_command_exits_2_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["start"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'start'" in err
    assert "'up'" in err


def test_no_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])

    assert exited.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_status_of_an_empty_home_lists_every_component_down_and_exits_1(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert [line.split()[0] for line in lines] == ALL_COMPONENTS
    assert all(line.split()[1:3] == ["down", "-"] for line in lines)
    assert all(line.endswith("not running") for line in lines)


def test_status_of_named_components_shows_only_those(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "orders-consumer", "kafka"])

    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert names == ["kafka", "orders-consumer"]  # in start order, not the order asked


def test_status_of_an_unknown_component_is_a_one_line_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status", "zookeeper"])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert (
        captured.err == f"stack: error: unknown component(s) zookeeper; known: {', '.join(ALL_COMPONENTS)}\n"
    )


def test_a_bad_port_variable_is_a_one_line_error(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECT_PORT", "80830")

    code = main(["status"])

    assert code == 1
    assert (
        capsys.readouterr().err == "stack: error: CONNECT_PORT='80830' is not a TCP port number (1-65535)\n"
    )


def test_env_prints_shell_exports_of_our_endpoints(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092",
        "export SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7",
        "export APICURIO_REGISTRY_URL=http://127.0.0.1:8081/apis/registry/v2",
        "export CONNECT_URL=http://127.0.0.1:8083",
        "export POSTGRES_URL=postgresql://postgres:postgres@127.0.0.1:5432",
    ]


def test_env_follows_moved_ports_and_attached_servers(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_PORT", "19092")
    monkeypatch.setenv("POSTGRES_URL", "postgresql://app:pw@db.internal:6543")
    monkeypatch.setenv("CONNECT_URL", "http://connect.internal:8083/")

    assert main(["env"]) == 0

    out = capsys.readouterr().out
    assert "export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092\n" in out
    assert "export POSTGRES_URL=postgresql://app:pw@db.internal:6543\n" in out
    assert "export CONNECT_URL=http://connect.internal:8083\n" in out


def test_logs_without_logs_says_so_per_component(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "kafka", "connect"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"logs folder: {home / 'logs'}"
    assert f"==> {home / 'logs' / 'kafka.log'} <==\n(no log yet)" in out
    assert f"==> {home / 'logs' / 'connect.log'} <==\n(no log yet)" in out
    assert "postgres.log" not in out


def test_logs_shows_the_last_lines_of_each_log(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "registry.log").write_text("".join(f"line {i}\n" for i in range(1, 51)))

    assert main(["logs", "-n", "3", "registry"]) == 0

    out = capsys.readouterr().out
    assert out.endswith("line 48\nline 49\nline 50\n")
    assert "line 47" not in out


def test_logs_follow_without_any_log_is_an_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["logs", "-f", "kafka"])

    assert code == 1
    assert (
        capsys.readouterr().err
        == f"stack: error: no log files yet in {home / 'logs'}; run `stack up` first\n"
    )


def test_reset_without_yes_refuses_and_deletes_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "data" / "kafka").mkdir(parents=True)

    code = main(["reset"])

    assert code == 1
    assert "confirm with `stack reset --yes`" in capsys.readouterr().err
    assert (home / "data" / "kafka").is_dir()


def test_reset_yes_deletes_data_logs_run_and_conf_but_keeps_downloads(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for sub in ("data/postgres", "logs", "run", "conf/kafka", "dist/kafka-4.3.1/libs"):
        (home / sub).mkdir(parents=True)
        (home / sub / "file").write_text("x")

    assert main(["reset", "--yes"]) == 0

    assert capsys.readouterr().out == "stack data deleted (downloads kept)\n"
    assert sorted(p.name for p in home.iterdir()) == ["dist"]
    assert (home / "dist" / "kafka-4.3.1" / "libs" / "file").read_text() == "x"


def test_install_of_an_unknown_component_is_refused_before_any_download(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install", "kafak"]) == 1
    assert capsys.readouterr().err.startswith(
        "stack: error: unknown component(s) kafak; known: postgres, kafka,"
    )


def test_down_of_nothing_running_succeeds(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down", "points-consumer"]) == 0
    assert capsys.readouterr().out == ""


def test_the_module_runs_as_a_program_with_the_same_exit_codes(home: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stack", *args],
            env={**os.environ, "STACK_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    helped, status = run("--help"), run("status", "postgres")

    assert helped.returncode == 0
    assert "usage: stack" in helped.stdout
    assert status.returncode == 1
    assert status.stdout.split()[:2] == ["postgres", "down"]
    assert "Traceback" not in status.stderr


def test_api_status_reads_settings_on_every_call(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = {s.name: s.endpoint for s in api.status(["connect"])}
    monkeypatch.setenv("CONNECT_PORT", "18083")
    second = {s.name: s.endpoint for s in api.status(["connect"])}

    assert first == {"connect": "http://127.0.0.1:8083"}
    assert second == {"connect": "http://127.0.0.1:18083"}
