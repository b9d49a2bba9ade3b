"""The CDC doctor's findings and the recovery plan, from given slot and offset states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventing import cdc
from eventing.connect.debezium import DatabaseEndpoint, outbox_connector, table_capture_connector
from eventing.exceptions import ConnectorError

pytestmark = pytest.mark.unit

DB = DatabaseEndpoint("127.0.0.1", 5432, "customer", "postgres", "postgres")
OUTBOX = outbox_connector("customers-outbox", DB)
CAPTURE = table_capture_connector(
    "orders-cdc", DB, tables=["public.orders_order"], topic="t", registry_url="u"
)
COMMITTED = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class FakeConnect:
    url = "http://connect"

    def __init__(
        self, *, offset_lsn: int | None = 0x18B658F8, task: str = "RUNNING", exists: bool = True
    ) -> None:
        self.offset_lsn, self.task, self.exists = offset_lsn, task, exists

    def status(self, name: str) -> dict[str, Any] | None:
        if not self.exists:
            return None
        task = {
            "id": 0,
            "state": self.task,
            "trace": "io.debezium.DebeziumException: no longer available\n\tat x",
        }
        return {"connector": {"state": "RUNNING"}, "tasks": [task]}

    def offsets(self, name: str) -> list[dict[str, Any]]:
        if self.offset_lsn is None:
            return []
        ts = int(COMMITTED.timestamp() * 1e6)
        return [{"partition": {"server": "x"}, "offset": {"lsn_proc": self.offset_lsn, "ts_usec": ts}}]


@pytest.fixture
def slot(monkeypatch: pytest.MonkeyPatch) -> dict[str, cdc.Slot | None]:
    state: dict[str, cdc.Slot | None] = {
        "slot": cdc.Slot("customers_outbox", True, "reserved", 0x18000000, 0x18B658F8)
    }
    monkeypatch.setattr(cdc, "read_slot", lambda name, using="default": state["slot"])
    # The checks that read the database have tests of their own (integration/test_cdc_doctor.py).
    for finder in ("supervision_findings", "heartbeat_findings", "table_findings", "slot_findings"):
        monkeypatch.setattr(cdc, finder, lambda *args, **kwargs: [])
    monkeypatch.setattr(cdc, "converter_findings", lambda connector: [])
    return state


def test_lsn_text_round_trips() -> None:
    assert cdc.parse_lsn("0/18B658F8") == 0x18B658F8
    assert cdc.format_lsn(cdc.parse_lsn("1A/FF")) == "1A/FF"
    assert cdc.parse_lsn(None) is None


def test_a_healthy_slot_has_no_findings(slot: dict[str, Any]) -> None:
    assert cdc.inspect(OUTBOX, FakeConnect()) == []  # type: ignore[arg-type]


def test_a_missing_slot_is_an_error_naming_the_gap_and_the_fix(slot: dict[str, Any]) -> None:
    slot["slot"] = None
    (finding,) = cdc.inspect(OUTBOX, FakeConnect())  # type: ignore[arg-type]
    assert (finding.id, finding.severity) == ("CDC101", "error")
    assert "from LSN 0/18B658F8 (committed 2026-12-03T12:00:00+00:00) to now" in finding.message
    assert "eventing_cdc recover customers-outbox" in finding.fix


def test_a_lost_slot_and_a_recreated_slot_are_errors(slot: dict[str, Any]) -> None:
    slot["slot"] = cdc.Slot("customers_outbox", False, "lost", 0x10, 0x10)
    assert [f.id for f in cdc.inspect(OUTBOX, FakeConnect())] == ["CDC102"]  # type: ignore[arg-type]
    slot["slot"] = cdc.Slot("customers_outbox", True, "reserved", 0x20000000, 0x20000000)
    (finding,) = cdc.inspect(OUTBOX, FakeConnect())  # type: ignore[arg-type]
    assert finding.id == "CDC103" and "to LSN 0/20000000" in finding.message


def test_a_connector_that_never_streamed_has_no_gap(slot: dict[str, Any]) -> None:
    slot["slot"] = None
    assert cdc.inspect(OUTBOX, FakeConnect(offset_lsn=None)) == []  # type: ignore[arg-type]


def test_a_failed_task_and_an_absent_connector_are_errors(slot: dict[str, Any]) -> None:
    (failed,) = cdc.inspect(OUTBOX, FakeConnect(task="FAILED"))  # type: ignore[arg-type]
    assert failed.id == "CDC110" and "no longer available" in failed.message and "restart" in failed.fix
    (absent,) = cdc.inspect(OUTBOX, FakeConnect(exists=False))  # type: ignore[arg-type]
    assert absent.id == "CDC001"


def test_recovery_refuses_without_a_gap(slot: dict[str, Any]) -> None:
    with pytest.raises(ConnectorError, match="no gap found"):
        cdc.recover(OUTBOX, FakeConnect(), dry_run=True)  # type: ignore[arg-type]


def test_recovery_plan_of_an_outbox_reemits_from_the_gap_start_less_the_margin(
    slot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    slot["slot"] = None
    asked: list[datetime] = []
    monkeypatch.setattr(cdc, "_gap_rows", lambda since, using: asked.append(since) or 7)
    plan = cdc.recover(OUTBOX, FakeConnect(), margin=timedelta(minutes=5), dry_run=True)  # type: ignore[arg-type]
    assert asked == [COMMITTED - timedelta(minutes=5)]
    assert plan.gap is not None and plan.gap.reason == "slot missing"
    assert plan.steps[-1].startswith("re-emit 7 outbox rows")
    assert not any("drop replication slot" in s for s in plan.steps)


def test_recovery_plan_of_a_table_capture_snapshots_again(slot: dict[str, Any]) -> None:
    slot["slot"] = cdc.Slot("orders_cdc", False, "lost", 0x10, 0x10)
    plan = cdc.recover(CAPTURE, FakeConnect(), dry_run=True)  # type: ignore[arg-type]
    assert any("drop replication slot orders_cdc" in s for s in plan.steps)
    assert plan.steps[-1] == "Debezium snapshots public.orders_order,public.eventing_heartbeat again"


def test_the_outbox_heartbeat_purges_only_rows_past_retention() -> None:
    query = outbox_connector("x", DB, retention=3600).config["heartbeat.action.query"]
    assert "created_at < now() - interval '3600 seconds'" in query
    assert query.endswith("ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at")
    assert "DELETE" not in CAPTURE.config["heartbeat.action.query"]
