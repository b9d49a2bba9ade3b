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
    #: WAL bytes kept for the slot, and left before ``max_slot_wal_keep_size`` (None: unbounded).
    retained_bytes: int | None = None
    safe_wal_size: int | None = None


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
            "SELECT slot_name, active, wal_status, restart_lsn::text, confirmed_flush_lsn::text, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, safe_wal_size "
            "FROM pg_replication_slots WHERE slot_name = %s",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Slot(row[0], bool(row[1]), row[2], parse_lsn(row[3]), parse_lsn(row[4]), row[5], row[6])


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
    findings.extend(supervision_findings(name, using=using))
    findings.extend(heartbeat_findings(connector, using=using))
    findings.extend(table_findings(connector, using=using))
    findings.extend(slot_findings(connector, using=using))
    findings.extend(converter_findings(connector))
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
    findings.extend(consumer_findings(using=using))
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


# -- the doctor's other checks -------------------------------------------------------------


def supervision_findings(name: str, *, using: str = DEFAULT_DB_ALIAS) -> list[Finding]:
    """The connector supervisor gave up (error), or has not reported for a minute (warning)."""
    from eventing.connect.models import ConnectorSupervision

    row = ConnectorSupervision.objects.using(using).filter(connector=name).first()
    if row is None:
        return []
    if row.state == "gave_up":
        return [
            Finding(
                "CDC120",
                ERROR,
                name,
                f"the connector supervisor gave up after {row.restarts} restarts: {row.last_error[:300]}",
                "fix the cause in the task's trace (eventing_connectors status), then "
                f"curl -X POST $CONNECT_URL/connectors/{name}/restart?includeTasks=true",
            )
        ]
    if datetime.now(UTC) - row.seen_at > timedelta(seconds=60):
        return [
            Finding(
                "CDC121",
                WARNING,
                name,
                f"the connector supervisor last reported at {row.seen_at.isoformat()} (pid {row.pid})",
                "run `manage.py eventing_connectors supervise` (make up starts it)",
            )
        ]
    return []


def _captured_tables(connector: Connector) -> list[str]:
    """``schema.table`` names the connector captures, the heartbeat table aside."""
    from eventing.outbox.models import Heartbeat

    tables = [t.strip() for t in connector.config.get("table.include.list", "").split(",") if t.strip()]
    return [t for t in tables if not t.endswith(f".{Heartbeat._meta.db_table}")]


def heartbeat_findings(connector: Connector, *, using: str = DEFAULT_DB_ALIAS) -> list[Finding]:
    """A slot without a heartbeat pins WAL while its tables are idle; a stale one means a stuck task."""
    from eventing.outbox.models import Heartbeat

    name = connector.name
    interval = int(connector.config.get("heartbeat.interval.ms", "0") or 0) / 1000
    if interval <= 0 or not connector.config.get("heartbeat.action.query"):
        return [
            Finding(
                "CDC130",
                WARNING,
                name,
                "no heartbeat (heartbeat.interval.ms and heartbeat.action.query): while its tables are "
                "idle its slot confirms nothing and pins the WAL of every other database",
                "build the connector with eventing.connect (outbox_connector / table_capture_connector)",
            )
        ]
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT now() - max(beat_at) FROM {Heartbeat._meta.db_table}")  # noqa: S608
        row = cursor.fetchone()
    age = row[0] if row else None
    if age is None or age > timedelta(seconds=max(60.0, 6 * interval)):
        seen = f"last beat {age.total_seconds():.0f}s ago" if age is not None else "never beat"
        return [
            Finding(
                "CDC131",
                WARNING,
                name,
                f"heartbeat not recent ({seen}; one every {interval:.0f}s expected)",
                "check the task (eventing_connectors status) and the Connect worker log",
            )
        ]
    return []


_IDENTITY = {"d": "DEFAULT", "n": "NOTHING", "i": "USING INDEX", "f": "FULL"}


def table_findings(connector: Connector, *, using: str = DEFAULT_DB_ALIAS) -> list[Finding]:
    """Captured tables exist, are in the publication, and (table capture) have REPLICA IDENTITY FULL."""
    findings: list[Finding] = []
    name = connector.name
    publication = connector.config.get("publication.name", "")
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s",
            [publication],
        )
        published = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", [publication])
        publication_exists = cursor.fetchone() is not None
        for table in _captured_tables(connector):
            cursor.execute(
                "SELECT c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname || '.' || c.relname = %s",
                [table],
            )
            row = cursor.fetchone()
            if row is None:
                findings.append(
                    Finding(
                        "CDC140", ERROR, name, f"captured table {table} does not exist", "manage.py migrate"
                    )
                )
                continue
            if publication_exists and table not in published:
                findings.append(
                    Finding(
                        "CDC141",
                        ERROR,
                        name,
                        f"table {table} is not in publication {publication}: its changes are not captured",
                        f"ALTER PUBLICATION {publication} ADD TABLE {table}",
                    )
                )
            identity = row[0].decode() if isinstance(row[0], bytes) else str(row[0])
            if not is_outbox(connector) and identity != "f":
                findings.append(
                    Finding(
                        "CDC142",
                        ERROR,
                        name,
                        f"table {table} has REPLICA IDENTITY {_IDENTITY.get(identity, identity)}, not FULL: "
                        "its deletes carry no row state",
                        f"ALTER TABLE {table} REPLICA IDENTITY FULL  (in a migration)",
                    )
                )
    return findings


def slot_findings(connector: Connector, *, using: str = DEFAULT_DB_ALIAS) -> list[Finding]:
    """WAL the slot retains, against ``max_slot_wal_keep_size``; an inactive slot."""
    name, slot_name = connector.name, connector.config["slot.name"]
    slot = read_slot(slot_name, using=using)
    if slot is None:
        return []  # a missing slot is a gap finding (or the connector never started)
    active, wal_status, retained, safe = slot.active, slot.wal_status, slot.retained_bytes, slot.safe_wal_size
    if wal_status == "unreserved" or (safe is not None and retained is not None and safe < retained):
        return [
            Finding(
                "CDC150",
                ERROR,
                name,
                f"slot {slot_name} retains {_size(retained)} of WAL and is close to being invalidated "
                f"(wal_status {wal_status}, {_size(safe)} left before max_slot_wal_keep_size)",
                "get the connector streaming (eventing_connectors status); raise max_slot_wal_keep_size",
            )
        ]
    if not active:
        return [
            Finding(
                "CDC151",
                WARNING,
                name,
                f"slot {slot_name} is not in use; it retains {_size(retained)} of WAL",
                "start the connector, or drop the slot if the connector is gone",
            )
        ]
    return []


def _size(value: int | None) -> str:
    if value is None:
        return "unbounded"
    return f"{value / 1024 / 1024:.1f} MiB"


def converter_findings(connector: Connector) -> list[Finding]:
    """A table capture's Avro converter must use content ids against a reachable registry."""
    import httpx

    from eventing.connect.converters import ApicurioAvroConverter, strategy_of

    config = connector.config
    strategy = strategy_of(config)
    if strategy is None:
        return []
    name = connector.name
    findings: list[Finding] = []
    apicurio = isinstance(strategy, ApicurioAvroConverter)
    if apicurio and config.get("value.converter.apicurio.registry.use-id") != "contentId":
        findings.append(
            Finding(
                "CDC160",
                ERROR,
                name,
                "the Avro converter writes global ids; Confluent-API readers resolve content ids "
                "(schema not found as soon as the two drift)",
                "set value.converter.apicurio.registry.use-id=contentId (eventing.connect does)",
            )
        )
    url = strategy.registry_url_of(config) or ""
    try:
        httpx.get(url.rstrip("/") + strategy.probe_path(), timeout=3.0).raise_for_status()
    except httpx.HTTPError as exc:
        findings.append(
            Finding(
                "CDC161",
                ERROR,
                name,
                f"the converter's registry {url} does not answer: {type(exc).__name__}: {exc}",
                "start the registry (make up) or fix the converter's registry URL (CONNECT_REGISTRY_URL)",
            )
        )
    return findings


def consumer_findings(*, using: str = DEFAULT_DB_ALIAS, max_lag: int = 10_000) -> list[Finding]:
    """This service's consumer groups: a live member, and lag, from their status rows."""
    from eventing.inbox.models import ConsumerStatus

    findings: list[Finding] = []
    fresh = datetime.now(UTC) - timedelta(seconds=60)
    statuses = ConsumerStatus.objects.using(using)
    for group in sorted(set(statuses.values_list("consumer_group", flat=True))):
        rows = list(statuses.filter(consumer_group=group, seen_at__gte=fresh))
        if not rows:
            findings.append(
                Finding(
                    "CDC170", WARNING, group, "no live member (no status row in 60 s)", "start the consumer"
                )
            )
            continue
        lag = sum(r.lag or 0 for r in rows)
        if lag > max_lag:
            findings.append(
                Finding(
                    "CDC171",
                    WARNING,
                    group,
                    f"lag {lag} over {len(rows)} live members (above {max_lag})",
                    "add members (up to the partition count) or find the slow handler",
                )
            )
    return findings
