"""PostgreSQL 15: our own cluster directory, started as a foreground ``postgres`` process.

The cluster is created once with ``initdb`` (UTF8, superuser ``postgres`` with
``POSTGRES_PASSWORD``, SCRAM for TCP from 127.0.0.1 including replication). Settings that
matter for Debezium (``wal_level=logical``, slots, ``max_slot_wal_keep_size`` as the guardrail
against a stalled slot filling the disk) are passed on the command line on every start, so a
change here applies on the next ``stack up`` without editing files in the data dir.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

from stack.errors import StackError
from stack.settings import LOOPBACK, PostgresTarget, Settings

logger = logging.getLogger(__name__)

OS_USER = "postgres"
"""Postgres refuses to run as root: as root we run it as this OS user."""

SERVER_SETTINGS = {
    "listen_addresses": LOOPBACK,
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    # A replication slot whose consumer stalls pins WAL; past this size Postgres invalidates the
    # slot instead of filling the disk (Debezium must then re-snapshot: see docs/stack.md).
    "max_slot_wal_keep_size": "2GB",
    "max_connections": "200",
    "logging_collector": "off",
}

HBA = """\
# Written by `stack up` on every start.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  peer
host    all          all   127.0.0.1/32   scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
"""


def data_dir(settings: Settings) -> Path:
    """The cluster directory."""
    return settings.paths.data / "postgres"


def socket_dir(settings: Settings) -> Path:
    """Where the server puts its Unix socket (owned by the server's OS user)."""
    return settings.paths.run / "postgres"


def run_as() -> str | None:
    """The OS user to run Postgres as: ``postgres`` when we are root, else ourselves."""
    return OS_USER if os.geteuid() == 0 else None


def _check_os_user(user: str | None) -> None:
    if user is None:
        return
    try:
        pwd.getpwnam(user)
    except KeyError as exc:
        raise StackError(
            f"running as root needs an OS user {user!r} to run PostgreSQL: "
            "`apt-get install -y postgresql-15` creates it (or `useradd --system postgres`)"
        ) from exc


def argv(settings: Settings) -> list[str]:
    """The foreground ``postgres`` command with every server setting."""
    options = {
        **SERVER_SETTINGS,
        "port": str(settings.ports["postgres"]),
        "unix_socket_directories": str(socket_dir(settings)),
    }
    args = [str(settings.postgres_bin / "postgres"), "-D", str(data_dir(settings))]
    for name, value in options.items():
        args += ["-c", f"{name}={value}"]
    return args


def stop_argv(settings: Settings) -> list[str]:
    """``pg_ctl stop -m fast``: disconnect clients, checkpoint, exit."""
    return [
        str(settings.postgres_bin / "pg_ctl"),
        "stop",
        "-D",
        str(data_dir(settings)),
        "-m",
        "fast",
        "-w",
        "-t",
        "30",
    ]


def init_cluster(settings: Settings) -> None:
    """Create the cluster on first use (``initdb``), and (re)write ``pg_hba.conf``; idempotent."""
    user = run_as()
    _check_os_user(user)
    directory, sockets = data_dir(settings), socket_dir(settings)
    for path in (directory, sockets):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        _own(path, user)
    if not (directory / "PG_VERSION").is_file():
        _initdb(settings, directory, user)
    hba = directory / "pg_hba.conf"
    hba.write_text(HBA)
    _own(hba, user)


def _initdb(settings: Settings, directory: Path, user: str | None) -> None:
    logger.info("postgres: initialising a new cluster in %s", directory)
    with tempfile.NamedTemporaryFile("w", prefix="stack-pw-", delete=False) as pwfile:
        pwfile.write(settings.postgres_password + "\n")
    try:
        _own(Path(pwfile.name), user)
        result = subprocess.run(
            [
                str(settings.postgres_bin / "initdb"),
                "-D",
                str(directory),
                "-U",
                "postgres",
                f"--pwfile={pwfile.name}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=directory,
            user=user,
            group=user,
            extra_groups=None if user is None else [],
        )
    finally:
        os.unlink(pwfile.name)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise StackError(f"initdb failed in {directory}: {detail[-1] if detail else result.returncode}")


def ensure_databases(target: PostgresTarget, names: Sequence[str]) -> None:
    """Create each database in ``names`` that does not exist yet; idempotent."""
    try:
        with psycopg.connect(target.conninfo(), autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in names:
                if name not in existing:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    logger.info("postgres: created database %s", name)
    except psycopg.Error as exc:
        raise StackError(
            f"cannot create the databases {', '.join(names)} on {target.host}:{target.port} as "
            f"{target.user}: {str(exc).strip().splitlines()[0]}"
        ) from exc


def _own(path: Path, user: str | None) -> None:
    if user is not None:
        shutil.chown(path, user, user)
