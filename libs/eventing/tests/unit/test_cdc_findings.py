"""More of the CDC doctor: an unreachable Connect, connectors with no tasks or a failed
connector, offsets without a commit time, slot WAL headroom, the converter's registry, the
health check. The database-reading checks are replaced by given states (see test_cdc.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from eventing import cdc
from eventing.connect.debezium import Connector, DatabaseEndpoint, outbox_connector, table_capture_connector
from eventing.exceptions import ConnectorError

pytestmark = pytest.mark.unit

DB = DatabaseEndpoint("127.0.0.1", 5432, "customer", "postgres", "postgres")
OUTBOX = outbox_connector("customers-outbox", DB)
CAPTURE = table_capture_connector(
    "orders-cdc", DB, tables=["public.orders_order"], topic="t", registry_url="http://reg/apis/registry/v2"
)
HEALTHY_SLOT = cdc.Slot("customers_outbox", True, "reserved", 0x18000000, 0x18B658F8, 1024, None)


class Connect:
    url = "http://connect"

    def __init__(
        self,
        *,
        connector: str = "RUNNING",
        tasks: list[dict[str, Any]] | None = None,
        offset: dict[str, Any] | None = None,
        down: bool = False,
    ) -> None:
        self.connector = {"state": connector}
        self.tasks = [{"id": 0, "state": "RUNNING"}] if tasks is None else tasks
        self.offset = offset
        self.down = down

    def status(self, name: str) -> dict[str, Any]:
        if self.down:
            raise ConnectorError(
                "Kafka Connect unreachable at http://connect: [Errno 111] Connection refused"
            )
        return {"connector": self.connector, "tasks": self.tasks}

    def offsets(self, name: str) -> list[dict[str, Any]]:
        return [] if self.offset is None else [{"partition": {"server": "x"}, "offset": self.offset}]


@pytest.fixture
def slot(monkeypatch: pytest.MonkeyPatch) -> dict[str, cdc.Slot | None]:
    state: dict[str, cdc.Slot | None] = {"slot": HEALTHY_SLOT}
    monkeypatch.setattr(cdc, "read_slot", lambda name, using="default": state["slot"])
    for finder in ("supervision_findings", "heartbeat_findings", "table_findings"):
        monkeypatch.setattr(cdc, finder, lambda *args, **kwargs: [])
    monkeypatch.setattr(cdc, "converter_findings", lambda connector: [])
    monkeypatch.setattr(cdc, "consumer_findings", lambda **kwargs: [])
    return state


def test_an_unreachable_connect_is_one_finding_per_connector_naming_the_cause(slot: dict[str, Any]) -> None:
    findings = cdc.doctor([OUTBOX, CAPTURE], Connect(down=True))  # type: ignore[arg-type]
    assert [(f.id, f.subject, f.severity) for f in findings] == [
        ("CDC000", "customers-outbox", "error"),
        ("CDC000", "orders-cdc", "error"),
    ]
    assert "Connection refused" in findings[0].message
    assert findings[0].fix == "start Kafka Connect (make up)"


def test_the_doctor_adds_the_consumer_groups_findings(
    slot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lagging = cdc.Finding("CDC171", cdc.WARNING, "orders.g", "lag", "add members")
    monkeypatch.setattr(cdc, "consumer_findings", lambda **kwargs: [lagging])
    assert cdc.doctor([OUTBOX], Connect()) == [lagging]  # type: ignore[arg-type]


def test_a_connector_without_tasks_is_a_warning(slot: dict[str, Any]) -> None:
    (finding,) = cdc.inspect(OUTBOX, Connect(tasks=[]))  # type: ignore[arg-type]
    assert (finding.id, finding.severity, finding.message) == ("CDC111", "warning", "connector has no tasks")


def test_a_failed_connector_reports_the_first_line_of_its_own_trace(slot: dict[str, Any]) -> None:
    connect = Connect(connector="FAILED", tasks=[])
    connect.connector["trace"] = "org.apache.kafka.connect.errors.ConnectException: bad\n\tat a.b(C.java:1)"
    (finding,) = cdc.inspect(OUTBOX, connect)  # type: ignore[arg-type]
    assert finding.id == "CDC110"
    assert finding.message == "task FAILED: org.apache.kafka.connect.errors.ConnectException: bad"
    assert finding.fix == "curl -X POST http://connect/connectors/customers-outbox/restart?includeTasks=true"


def test_a_failed_task_without_a_trace_says_so(slot: dict[str, Any]) -> None:
    (finding,) = cdc.inspect(OUTBOX, Connect(tasks=[{"id": 0, "state": "FAILED", "trace": None}]))  # type: ignore[arg-type]
    assert finding.message == "task FAILED: no trace"


def test_a_task_failed_on_a_gap_is_fixed_by_recovery_not_by_a_restart(slot: dict[str, Any]) -> None:
    slot["slot"] = None
    connect = Connect(tasks=[{"id": 0, "state": "FAILED", "trace": "no longer available"}], offset={"lsn": 5})
    gap, failed = cdc.inspect(OUTBOX, connect)  # type: ignore[arg-type]
    assert gap.id == "CDC101" and "from LSN 0/5 to now" in gap.message  # no commit time known
    assert failed.id == "CDC110" and failed.fix.startswith("manage.py eventing_cdc recover customers-outbox")


def test_an_offset_in_the_older_lsn_field_is_read_and_a_missing_commit_time_is_none() -> None:
    assert cdc.read_offset(Connect(offset={"lsn": 0x20}), "x") == cdc.StoredOffset(0x20, None)  # type: ignore[arg-type]
    ts = int(datetime(2026, 1, 2, tzinfo=UTC).timestamp() * 1e6)
    stored = cdc.read_offset(Connect(offset={"lsn_proc": 0x30, "lsn": 0x20, "ts_usec": ts}), "x")  # type: ignore[arg-type]
    assert stored == cdc.StoredOffset(0x30, datetime(2026, 1, 2, tzinfo=UTC))
    assert cdc.read_offset(Connect(offset={}), "x") == cdc.StoredOffset(None, None)  # type: ignore[arg-type]
    assert cdc.read_offset(Connect(), "x") is None  # type: ignore[arg-type]


def test_recovering_an_outbox_whose_offset_has_no_commit_time_asks_for_since(slot: dict[str, Any]) -> None:
    slot["slot"] = None
    with pytest.raises(ConnectorError, match="the stored offset has no commit time; pass --since"):
        cdc.recover(OUTBOX, Connect(offset={"lsn": 5}), dry_run=True)  # type: ignore[arg-type]
    # a table capture snapshots instead: it needs no time
    plan = cdc.recover(CAPTURE, Connect(offset={"lsn": 5}), dry_run=True)  # type: ignore[arg-type]
    assert plan.steps[-1].startswith("Debezium snapshots public.orders_order")


def test_recovering_with_since_and_no_gap_re_emits_from_since_and_drops_the_existing_slot(
    slot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    monkeypatch.setattr(cdc, "_gap_rows", lambda start, using: 3 if start == since else -1)
    plan = cdc.recover(OUTBOX, Connect(offset={"lsn": 0x18B658F8}), since=since, dry_run=True)  # type: ignore[arg-type]
    assert plan.gap is None
    assert plan.steps == [
        "stop connector customers-outbox",
        "drop replication slot customers_outbox (it does not hold the gap)",
        "reset the connector's stored offset",
        "resume customers-outbox: Debezium creates slot customers_outbox at the current WAL position",
        "re-emit 3 outbox rows created since 2026-12-01T00:00:00+00:00",
    ]


def test_a_gap_of_unknown_start_is_described_as_such() -> None:
    gap = cdc.Gap("c", "s", None, None, None, "slot missing")
    assert gap.describe() == "from an unknown LSN to now"
    assert cdc.format_lsn(None) == "-" and cdc.parse_lsn("") is None


# -- WAL headroom of the slot -------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        cdc.Slot("customers_outbox", True, "unreserved", 1, 1, 3 * 1024 * 1024, 0),
        cdc.Slot("customers_outbox", True, "extended", 1, 1, 3 * 1024 * 1024, 1024 * 1024),
    ],
)
def test_a_slot_close_to_invalidation_is_an_error_with_its_sizes(
    slot: dict[str, Any], state: cdc.Slot
) -> None:
    slot["slot"] = state
    (finding,) = cdc.slot_findings(OUTBOX)
    assert (finding.id, finding.severity) == ("CDC150", "error")
    assert "retains 3.0 MiB of WAL" in finding.message
    assert f"wal_status {state.wal_status}" in finding.message
    assert "max_slot_wal_keep_size" in finding.fix


def test_an_active_slot_within_its_bounds_or_unbounded_has_no_finding(slot: dict[str, Any]) -> None:
    slot["slot"] = cdc.Slot("customers_outbox", True, "reserved", 1, 1, 3 * 1024 * 1024, 10 * 1024 * 1024)
    assert cdc.slot_findings(OUTBOX) == []
    slot["slot"] = HEALTHY_SLOT  # safe_wal_size None: no max_slot_wal_keep_size
    assert cdc.slot_findings(OUTBOX) == []


def test_an_inactive_slot_of_unknown_size_says_unbounded(slot: dict[str, Any]) -> None:
    slot["slot"] = cdc.Slot("customers_outbox", False, "reserved", 1, 1, None, None)
    (finding,) = cdc.slot_findings(OUTBOX)
    assert finding.id == "CDC151" and "retains unbounded of WAL" in finding.message


# -- the table capture's converter ---------------------------------------------------------------


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def get(url: str, timeout: float) -> httpx.Response:
        asked.append(url)
        status = 503 if "down" in url else 200
        return httpx.Response(status, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", get)
    return asked


def test_an_outbox_connector_has_no_converter_to_check(probes: list[str]) -> None:
    assert cdc.converter_findings(OUTBOX) == []
    assert probes == []


def test_a_converter_writing_global_ids_is_an_error(probes: list[str]) -> None:
    config = {**CAPTURE.config, "value.converter.apicurio.registry.use-id": "globalId"}
    (finding,) = cdc.converter_findings(Connector("orders-cdc", config))
    assert finding.id == "CDC160" and "use-id=contentId" in finding.fix
    assert probes == ["http://reg/apis/registry/v2/system/info"]


def test_a_registry_answering_with_an_error_is_reported_with_the_status(probes: list[str]) -> None:
    down = table_capture_connector(
        "orders-cdc", DB, tables=["public.t"], topic="t", registry_url="http://down/"
    )
    (finding,) = cdc.converter_findings(down)
    assert finding.id == "CDC161"
    assert finding.message.startswith(
        "the converter's registry http://down/ does not answer: HTTPStatusError"
    )
    assert probes == ["http://down/system/info"]


def test_a_reachable_registry_with_content_ids_is_fine(probes: list[str]) -> None:
    assert cdc.converter_findings(CAPTURE) == []


# -- the health check ------------------------------------------------------------------------------


def test_the_cdc_health_check_fails_on_errors_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventing.management.commands import eventing_connectors

    findings: list[cdc.Finding] = [cdc.Finding("CDC151", cdc.WARNING, "a", "slot not in use", "-")]
    monkeypatch.setattr(eventing_connectors, "configured_connectors", lambda: [OUTBOX])
    monkeypatch.setattr(cdc, "doctor", lambda connectors, client: list(findings))
    cdc.check_cdc()  # warnings only
    findings += [
        cdc.Finding("CDC102", cdc.ERROR, "customers-outbox", "slot lost", "recover"),
        cdc.Finding("CDC110", cdc.ERROR, "customers-outbox", "task FAILED: x", "restart"),
    ]
    with pytest.raises(RuntimeError) as raised:
        cdc.check_cdc()
    assert str(raised.value) == "CDC102 customers-outbox: slot lost; CDC110 customers-outbox: task FAILED: x"


def test_a_finding_prints_its_severity_id_subject_and_fix() -> None:
    finding = cdc.Finding("CDC151", cdc.WARNING, "orders-cdc", "slot not in use", "start the connector")
    assert str(finding) == "WARNING CDC151 orders-cdc: slot not in use\n  fix: start the connector"
