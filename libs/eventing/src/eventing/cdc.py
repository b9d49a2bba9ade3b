"""Replication slots and the Debezium connectors that read them: findings, and recovery.

A Debezium Postgres connector keeps its position twice: the replication slot in PostgreSQL
(WAL retained from ``restart_lsn`` on) and the offset Kafka Connect stores (the last LSN it
delivered). When the slot is dropped (a cleanup script, a failover without failover slots)
or invalidated (``max_slot_wal_keep_size``), the WAL between the stored offset and "now" is
gone for this connector: Debezium refuses to start ("no longer available on the server"),
and anybody who "fixes" that by resetting the offset or recreating the slot silently loses
every event of the gap.

:func:`inspect` turns that state into findings (id, severity, message, fix) naming the gap;
:func:`recover` gets back to a complete stream:

* an **outbox** connector: reset the offset, let Debezium create the slot at the current WAL
  position, then re-emit the outbox rows of the gap, which the outbox keeps for
  ``OUTBOX_RETENTION`` (each row deleted and inserted again in one transaction: Debezium
  ignores the delete and routes the insert, same event id, so consumers that already had it
  skip it through their inbox);
* a **table capture** connector (``snapshot.mode=initial``): reset the offset, and Debezium
  snapshots the captured tables again: the current state of every row, which version-guarded
  consumers apply idempotently. Rows *deleted* during the gap cannot be recovered this way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from eventing.connect.client import ConnectClient
from eventing.connect.debezium import Connector
from eventing.exceptions import ConnectorError

logger = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"
#: Findings that mean events are missing from the stream (recovery needed).
GAP_FINDINGS = {"CDC101", "CDC102", "CDC103"}


@dataclass(frozen=True)
class Finding:
    """One thing the doctor found: ``id`` is stable (for docs and alerts), ``fix`` is a command."""

    id: str
    severity: str
    subject: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity.upper()} {self.id} {self.subject}: {self.message}\n  fix: {self.fix}"


@dataclass(frozen=True)
class Slot:
    name: str
    active: bool
    wal_status: str | None
    restart_lsn: int | None
    confirmed_flush_lsn: int | None


@dataclass(frozen=True)
class StoredOffset:
    """Where Connect says the connector got to: the last LSN delivered, and its commit time."""

    lsn: int | None
    committed_at: datetime | None


@dataclass
class Gap:
    """Changes a connector has not delivered and its slot no longer holds."""

    connector: str
    slot: str
    from_lsn: int | None
    from_time: datetime | None
    to_lsn: int | None
    reason: str

    def describe(self) -> str:
        start = f"LSN {format_lsn(self.from_lsn)}" if self.from_lsn is not None else "an unknown LSN"
        when = f" (committed {self.from_time.isoformat()})" if self.from_time else ""
        end = f"LSN {format_lsn(self.to_lsn)}" if self.to_lsn is not None else "now"
        return f"from {start}{when} to {end}"


@dataclass
class Recovery:
    """What :func:`recover` did (or, with ``dry_run``, would do)."""

    connector: str
    gap: Gap | None
    reemitted: int = 0
    snapshot: bool = False
    steps: list[str] = field(default_factory=list)


def format_lsn(lsn: int | None) -> str:
    if lsn is None:
        return "-"
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str | None) -> int | None:
    if not text:
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def is_outbox(connector: Connector) -> bool:
    return connector.config.get("transforms.outbox.type", "").endswith("EventRouter")


# -- reading the state ---------------------------------------------------------------------


def read_slot(name: str, *, using: str = DEFAULT_DB_ALIAS) -> Slot | None:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT slot_name, active, wal_status, restart_lsn::text, confirmed_flush_lsn::text "
            "FROM pg_replication_slots WHERE slot_name = %s",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Slot(row[0], bool(row[1]), row[2], parse_lsn(row[3]), parse_lsn(row[4]))


def read_offset(client: ConnectClient, name: str) -> StoredOffset | None:
    """The connector's stored offset (Kafka Connect's ``GET /connectors/{name}/offsets``)."""
    offsets = client.offsets(name)
    for entry in offsets:
        offset = entry.get("offset") or {}
        lsn = offset.get("lsn_proc", offset.get("lsn"))
        ts_usec = offset.get("ts_usec")
        committed = datetime.fromtimestamp(ts_usec / 1e6, UTC) if ts_usec else None
        return StoredOffset(int(lsn) if lsn is not None else None, committed)
    return None


def inspect(connector: Connector, client: ConnectClient, *, using: str = DEFAULT_DB_ALIAS) -> list[Finding]:
    """Findings about one connector, its stored offset and its replication slot."""
    findings: list[Finding] = []
    name, slot_name = connector.name, connector.config["slot.name"]
    recover_fix = f"manage.py eventing_cdc recover {name}  (re-emits the gap; --dry-run first)"
    status = client.status(name)
    if status is None:
        return [
            Finding(
                "CDC001",
                ERROR,
                name,
                "connector is not defined in Kafka Connect",
                "manage.py eventing_connectors apply",
            )
        ]
    gap = find_gap(connector, client, using=using)
    if gap is not None:
        finding_id = {"slot missing": "CDC101", "slot lost": "CDC102"}.get(gap.reason, "CDC103")
        findings.append(
            Finding(
                finding_id,
                ERROR,
                name,
                f"{gap.reason} (slot {slot_name}): events {gap.describe()} were never delivered",
                recover_fix,
            )
        )
    failed = [t for t in status.get("tasks", []) if t.get("state") == "FAILED"]
    if status["connector"]["state"] == "FAILED" or failed:
        trace = (failed[0] if failed else status["connector"]).get("trace", "") or ""
        first_line = trace.strip().splitlines()[0] if trace.strip() else "no trace"
        fix = (
            recover_fix
            if gap is not None
            else f"curl -X POST {client.url}/connectors/{name}/restart?includeTasks=true"
        )
        findings.append(Finding("CDC110", ERROR, name, f"task FAILED: {first_line[:300]}", fix))
    elif not status.get("tasks"):
        findings.append(
            Finding("CDC111", WARNING, name, "connector has no tasks", "check the Connect worker log")
        )
    return findings


def find_gap(connector: Connector, client: ConnectClient, *, using: str = DEFAULT_DB_ALIAS) -> Gap | None:
    """The undelivered changes that the slot no longer holds, if any."""
    slot_name = connector.config["slot.name"]
    offset = read_offset(client, connector.name)
    if offset is None or offset.lsn is None:
        return None  # never streamed: the first start creates the slot and (maybe) snapshots
    slot = read_slot(slot_name, using=using)
    if slot is None:
        return Gap(connector.name, slot_name, offset.lsn, offset.committed_at, None, "slot missing")
    if slot.wal_status == "lost":
        return Gap(connector.name, slot_name, offset.lsn, offset.committed_at, None, "slot lost")
    if slot.restart_lsn is not None and slot.restart_lsn > offset.lsn:
        return Gap(
            connector.name,
            slot_name,
            offset.lsn,
            offset.committed_at,
            slot.restart_lsn,
            "slot starts after the stored offset (recreated or advanced by hand)",
        )
    return None


# -- recovering ----------------------------------------------------------------------------


def recover(
    connector: Connector,
    client: ConnectClient,
    *,
    since: datetime | None = None,
    margin: timedelta = timedelta(minutes=5),
    dry_run: bool = False,
    timeout: float = 120.0,
    using: str = DEFAULT_DB_ALIAS,
) -> Recovery:
    """Get ``connector`` back to a complete stream after its slot was lost (see module doc).

    The gap starts at the stored offset's commit time, less ``margin`` (a transaction that
    committed after the offset may have inserted its rows earlier); ``since`` overrides it.
    Refuses when there is no gap and no ``since``.
    """
    gap = find_gap(connector, client, using=using)
    result = Recovery(connector.name, gap)
    start = since or (gap.from_time - margin if gap is not None and gap.from_time else None)
    outbox = is_outbox(connector)
    if gap is None and since is None:
        raise ConnectorError(
            f"{connector.name}: no gap found (its slot holds everything after the stored offset); "
            "pass --since to re-emit anyway",
            context={"connector": connector.name},
        )
    if outbox and start is None:
        raise ConnectorError(
            f"{connector.name}: the stored offset has no commit time; pass --since",
            context={"connector": connector.name},
        )
    slot_name = connector.config["slot.name"]
    plan = [f"stop connector {connector.name}"]
    slot = read_slot(slot_name, using=using)
    if slot is not None:
        plan.append(f"drop replication slot {slot_name} (it does not hold the gap)")
    plan.append("reset the connector's stored offset")
    plan.append(f"resume {connector.name}: Debezium creates slot {slot_name} at the current WAL position")
    if outbox:
        count = _gap_rows(start, using=using)  # type: ignore[arg-type]
        plan.append(f"re-emit {count} outbox rows created since {start.isoformat()}")  # type: ignore[union-attr]
    else:
        plan.append(f"Debezium snapshots {connector.config.get('table.include.list', '')} again")
    result.steps = plan
    if dry_run:
        return result

    client.stop(connector.name)
    client.wait_state(connector.name, "STOPPED", timeout=timeout)
    if slot is not None:
        _drop_slot(slot_name, timeout=timeout, using=using)
    client.reset_offsets(connector.name)
    client.resume(connector.name)
    client.wait_running(connector.name, timeout=timeout)
    _wait_for_slot(slot_name, timeout=timeout, using=using)
    if outbox:
        result.reemitted = reemit_outbox(start, using=using)  # type: ignore[arg-type]
    else:
        result.snapshot = True
    logger.warning(
        "connector recovered after a lost slot",
        extra={
            "connector": connector.name,
            "gap": gap.describe() if gap else None,
            "reemitted": result.reemitted,
            "snapshot": result.snapshot,
        },
    )
    return result


def _outbox_table() -> str:
    from eventing.outbox.models import OutboxEvent

    return OutboxEvent._meta.db_table


def _gap_rows(since: datetime, *, using: str) -> int:
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {_outbox_table()} WHERE created_at >= %s", [since])  # noqa: S608
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def reemit_outbox(since: datetime, *, using: str = DEFAULT_DB_ALIAS) -> int:
    """Delete and insert again, in one transaction and in their order, the rows since ``since``.

    The EventRouter ignores deletes and routes inserts, so each event is published again
    with its own id (consumers deduplicate) and key (same partition).
    """
    table = _outbox_table()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(
            f"WITH gap AS (DELETE FROM {table} WHERE created_at >= %s RETURNING *) "  # noqa: S608
            f"INSERT INTO {table} SELECT * FROM gap ORDER BY created_at, id",
            [since],
        )
        return int(cursor.rowcount)


def _drop_slot(name: str, *, timeout: float, using: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        slot = read_slot(name, using=using)
        if slot is None:
            return
        if not slot.active:
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT pg_drop_replication_slot(%s)", [name])
            return
        if time.monotonic() > deadline:
            raise ConnectorError(f"replication slot {name} still in use after {timeout:.0f}s")
        time.sleep(0.5)


def _wait_for_slot(name: str, *, timeout: float, using: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        slot = read_slot(name, using=using)
        if slot is not None and slot.active:
            return
        if time.monotonic() > deadline:
            raise ConnectorError(f"replication slot {name} not created/active after {timeout:.0f}s")
        time.sleep(0.5)


def doctor(
    connectors: Iterable[Connector], client: ConnectClient, *, using: str = DEFAULT_DB_ALIAS
) -> list[Finding]:
    """Findings for every connector (a Connect that cannot be reached is one finding)."""
    findings: list[Finding] = []
    for connector in connectors:
        try:
            findings.extend(inspect(connector, client, using=using))
        except ConnectorError as exc:
            findings.append(
                Finding("CDC000", ERROR, connector.name, str(exc), "start Kafka Connect (make up)")
            )
    return findings


def check_cdc() -> None:
    """Health check: no connector of this service has an error finding (a lost slot, a FAILED task)."""
    from eventing.conf import eventing_settings
    from eventing.management.commands.eventing_connectors import configured_connectors

    client = ConnectClient(eventing_settings.CONNECT_URL, timeout=3.0)
    try:
        errors = [f for f in doctor(configured_connectors(), client) if f.severity == ERROR]
    finally:
        client.close()
    if errors:
        raise RuntimeError("; ".join(f"{f.id} {f.subject}: {f.message}" for f in errors))
