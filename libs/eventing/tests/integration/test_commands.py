"""The management commands as an operator sees them: messages, exit codes, refused arguments.

Each bad argument is refused before anything is touched, with a message that says what is
wrong; a dependency that is down (Kafka Connect, the registry) is a one-line error naming its
address, not a traceback. ``call_command`` raises ``CommandError`` where ``manage.py`` would
print it and exit 1; two tests run ``manage.py`` for real to check those exit codes (and
argparse's 2 for a usage error). Read-only against the real stack: nothing is created but
scratch names that do not exist.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.test import override_settings

from eventing.connect.debezium import Connector
from eventing.consumer.registry import HandlerRegistry
from eventing.runtime import use_registry
from tests.settings import EVENTING

pytestmark = pytest.mark.integration

LIBRARY = Path(__file__).resolve().parents[2]


def run(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scratch_connectors() -> list[Connector]:
    """Two connector definitions (EVENTING['CONNECTORS'] entry) that exist nowhere."""
    return [
        Connector(
            name=f"eventing-tests-absent-{n}", config={"connector.class": "x", "slot.name": f"absent_{n}"}
        )
        for n in ("a", "b")
    ]


def one_connector() -> Connector:
    """A factory may return one connector rather than a list."""
    return Connector(name="eventing-tests-single", config={"tasks.max": "1"})


CONNECTORS = [f"{__name__}.scratch_connectors", f"{__name__}.one_connector"]


# -- --help -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "argv", "flags"),
    [
        ("eventing_consume", [], ["--group", "--topic", "--metrics-port"]),
        ("eventing_schemas", [], ["{register,check}", "--compatibility"]),
        (
            "eventing_connectors",
            [],
            ["{apply,status,delete,show,supervise}", "--timeout", "--url", "--max-restarts"],
        ),
        ("eventing_cdc", [], ["{doctor,recover}", "--dry-run", "--since", "--margin"]),
        ("eventing_purge", [], ["--older-than", "--outbox"]),
        (
            "eventing_offsets",
            ["reset"],
            ["--group", "--to-earliest", "--to-datetime", "--topic", "--dry-run"],
        ),
        ("eventing_dlt", ["redrive"], ["--group", "--id", "--reason", "--all", "--dry-run", "--force"]),
        ("eventing_dlt", ["list"], ["--group", "--json", "--max-redrives"]),
    ],
)
def test_help_lists_every_option(command: str, argv: list[str], flags: list[str]) -> None:
    parser = load_command_class("eventing", command).create_parser("manage.py", command)
    if argv:  # a sub-command's own help
        parser = parser._subparsers._group_actions[0].choices[argv[0]]  # type: ignore[union-attr]
    text = parser.format_help()
    missing = [flag for flag in flags if flag not in text]
    assert missing == [], text


def manage(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(LIBRARY)}
    return subprocess.run(
        [sys.executable, "-m", "django", *argv],
        cwd=LIBRARY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_manage_py_exits_1_with_the_commands_message() -> None:
    done = manage("eventing_offsets", "reset", "--group", "g", "--to-datetime", "yesterday")
    assert done.returncode == 1
    assert "CommandError: --to-datetime 'yesterday' is not an ISO 8601 time" in done.stderr
    assert "Traceback" not in done.stderr


def test_manage_py_exits_2_on_a_usage_error_with_the_usage() -> None:
    done = manage("eventing_offsets", "reset", "--to-earliest")
    assert done.returncode == 2
    assert "usage:" in done.stderr and "the following arguments are required: --group" in done.stderr


# -- eventing_offsets -------------------------------------------------------------------------


def test_offsets_needs_an_action() -> None:
    with pytest.raises(CommandError, match="required: action"):
        run("eventing_offsets")


def test_offsets_refuses_two_destinations() -> None:
    with pytest.raises(CommandError, match="not allowed with argument"):
        run(
            "eventing_offsets",
            "reset",
            "--group",
            "g",
            "--to-earliest",
            "--to-datetime",
            "2026-12-03T12:00:00Z",
        )


def test_offsets_needs_a_destination() -> None:
    with pytest.raises(CommandError, match="one of the arguments --to-earliest --to-datetime is required"):
        run("eventing_offsets", "reset", "--group", "g")


def test_offsets_refuses_a_time_without_a_zone() -> None:
    with pytest.raises(CommandError, match=r"'2026-12-03T12:00:00' has no time zone; add one, e.g. Z"):
        run("eventing_offsets", "reset", "--group", "g", "--to-datetime", "2026-12-03T12:00:00")


# -- eventing_consume -------------------------------------------------------------------------


def test_consume_needs_a_group() -> None:
    with pytest.raises(CommandError, match="required: --group"):
        run("eventing_consume")


def test_consume_refuses_a_group_without_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventing.management.commands import eventing_consume

    monkeypatch.setattr(eventing_consume, "registry", HandlerRegistry())
    with pytest.raises(CommandError, match=r"No handlers registered for group 'nobody\.reads'"):
        run("eventing_consume", "--group", "nobody.reads")


def test_consume_refuses_a_topic_its_handlers_do_not_read_and_lists_theirs() -> None:
    with pytest.raises(CommandError) as caught:
        run("eventing_consume", "--group", "tests.cli", "--topic", "no-such-topic")
    message = str(caught.value)
    assert message.startswith("No handler of group 'tests.cli' consumes no-such-topic; its topics are: ")
    assert os.environ["EVENTING_TESTS_TOPIC"] in message


def test_consume_with_the_registry_down_fails_at_start_up_naming_it() -> None:
    down = f"http://127.0.0.1:{closed_port()}/apis/ccompat/v7"
    use_registry(None)  # the process-wide client is built from the setting below
    try:
        with override_settings(EVENTING={**EVENTING, "SCHEMA_REGISTRY_URL": down}):
            use_registry(None)
            with pytest.raises(CommandError) as caught:
                run("eventing_consume", "--group", "tests.cli")
    finally:
        use_registry(None)
    assert str(caught.value).startswith(f"Start-up failed: Schema registry unreachable at {down}")


def test_consume_refuses_a_metrics_port_that_is_not_a_number() -> None:
    with pytest.raises(CommandError, match="argument --metrics-port: invalid int value: 'metrics'"):
        run("eventing_consume", "--group", "tests.cli", "--metrics-port", "metrics")


# -- eventing_connectors / eventing_cdc -------------------------------------------------------


def test_connectors_show_prints_each_definition_without_calling_connect() -> None:
    with override_settings(
        EVENTING={**EVENTING, "CONNECTORS": CONNECTORS, "CONNECT_URL": "http://127.0.0.1:1"}
    ):
        output = run("eventing_connectors", "show")
    assert output.count('"name": "eventing-tests-absent-') == 2
    assert '"name": "eventing-tests-single"' in output and '"tasks.max": "1"' in output


def test_connectors_status_with_connect_down_names_its_url() -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    with (
        override_settings(EVENTING={**EVENTING, "CONNECTORS": CONNECTORS}),
        pytest.raises(CommandError, match=f"Kafka Connect unreachable at {down}"),
    ):
        run("eventing_connectors", "status", "--url", down)


def test_connectors_status_and_delete_of_connectors_connect_does_not_have() -> None:
    with override_settings(EVENTING={**EVENTING, "CONNECTORS": [f"{__name__}.scratch_connectors"]}):
        status = run("eventing_connectors", "status")
        deleted = run("eventing_connectors", "delete")
    assert status.splitlines() == ["eventing-tests-absent-a: absent", "eventing-tests-absent-b: absent"]
    assert deleted.splitlines() == ["eventing-tests-absent-a: absent", "eventing-tests-absent-b: absent"]


def test_connectors_with_an_unimportable_factory_is_a_clear_error() -> None:
    with override_settings(EVENTING={**EVENTING, "CONNECTORS": [f"{__name__}.nowhere"]}):
        with pytest.raises(
            CommandError, match=rf"EVENTING\['CONNECTORS'\]: cannot import '{__name__}.nowhere'"
        ):
            run("eventing_connectors", "show")
        with pytest.raises(CommandError, match="cannot import"):
            run("eventing_cdc", "doctor")


def test_connectors_refuses_an_unknown_action() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'restart'"):
        run("eventing_connectors", "restart")


def test_cdc_recover_of_an_unknown_connector_lists_the_services_connectors() -> None:
    with (
        override_settings(EVENTING={**EVENTING, "CONNECTORS": [f"{__name__}.one_connector"]}),
        pytest.raises(
            CommandError,
            match=r"unknown connector 'orders-outbox'; this service's connectors: eventing-tests-single",
        ),
    ):
        run("eventing_cdc", "recover", "orders-outbox")
    with pytest.raises(CommandError, match="this service's connectors: none"):
        run("eventing_cdc", "recover", "orders-outbox")


def test_cdc_refuses_a_since_that_is_not_a_time() -> None:
    with pytest.raises(CommandError, match="argument --since: invalid fromisoformat value: 'last week'"):
        run("eventing_cdc", "recover", "x", "--since", "last week")


@pytest.mark.django_db
def test_cdc_doctor_with_no_connectors_finds_nothing() -> None:
    assert run("eventing_cdc", "doctor").splitlines()[-1] == "0 connectors checked: 0 errors, 0 warnings"


# -- eventing_dlt / eventing_purge ------------------------------------------------------------


def test_dlt_refuses_a_loop_guard_below_one() -> None:
    with pytest.raises(CommandError, match="--max-redrives must be at least 1"):
        run("eventing_dlt", "list", "--group", "g", "--max-redrives", "0")


@pytest.mark.django_db
def test_dlt_list_of_a_group_without_dead_letters_says_so(live_schemas: object) -> None:
    group = f"tests.cli-{uuid.uuid4().hex[:8]}"
    assert run("eventing_dlt", "list", "--group", group) == f"No dead letters for group {group}.\n"


@pytest.mark.django_db
def test_dlt_redrive_of_a_group_without_dead_letters_is_refused(live_schemas: object) -> None:
    group = f"tests.cli-{uuid.uuid4().hex[:8]}"
    with pytest.raises(CommandError, match=f"No dead letter of group {group} matches the selection"):
        run("eventing_dlt", "redrive", "--group", group, "--all")


def test_purge_refuses_an_age_that_is_not_a_number() -> None:
    with pytest.raises(CommandError, match="argument --older-than: invalid float value: '1d'"):
        run("eventing_purge", "--older-than", "1d")


@pytest.mark.django_db
def test_purge_refuses_a_negative_age_and_deletes_nothing() -> None:
    from eventing.inbox.models import InboxEntry, InboxStatus

    # Given an event applied just now (a negative age would make it "older than" the cut-off)
    InboxEntry.objects.create(
        consumer_group="tests.cli",
        event_id=str(uuid.uuid4()),
        topic="t",
        partition=0,
        offset=0,
        status=InboxStatus.APPLIED,
    )
    with pytest.raises(CommandError, match="--older-than must be a number of seconds >= 0, got -60"):
        run("eventing_purge", "--older-than", "-60")
    assert InboxEntry.objects.filter(consumer_group="tests.cli").count() == 1
