"""Shared helpers of the benchmarks: Django bootstrapping, a scratch database, result files.

Each benchmark removes what it created on the stack (scratch database, topics, subjects)
when it ends, also when it fails; results go to ``results/`` (ignored by git: a run kept as
a reference is added with ``git add -f``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def setup_django(settings_module: str, database: str) -> None:
    """Point a service's settings at a scratch database (created and migrated) and set up Django."""
    base = os.environ.get("POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432")
    parts = urlsplit(base)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{database}"))
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def drop_database(database: str) -> None:
    """Drop a scratch database made by :func:`setup_django` (closing Django's connections first)."""
    from django.db import connections

    connections.close_all()
    base = os.environ.get("POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432")
    with psycopg.connect(urlunsplit(urlsplit(base)._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def remove_topics_and_subjects(token: str) -> None:
    """Delete the Kafka topics and registry subjects whose names contain ``token``.

    A benchmark names its topics and consumer groups with a unique token; its dead-letter
    topics (``<group>.<topic>.dlt``) and subjects (``<topic>-value``) contain it too. Kafka
    keeps an empty group after its topics are gone, so groups are deleted explicitly.
    """
    import httpx
    from confluent_kafka.admin import AdminClient

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [t for t in admin.list_topics(timeout=30).topics if token in t]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result(30)
    groups = [g.group_id for g in admin.list_consumer_groups().result().valid if token in g.group_id]
    if groups:
        for future in admin.delete_consumer_groups(groups).values():
            future.result()
    registry = os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7").rstrip("/")
    with httpx.Client(base_url=registry, timeout=30) as client:
        for subject in [s for s in client.get("/subjects").json() if token in s]:
            client.delete(f"/subjects/{subject}").raise_for_status()
            client.delete(f"/subjects/{subject}", params={"permanent": "true"}).raise_for_status()
    print(f"removed {len(topics)} topics and {len(groups)} consumer groups of {token}", flush=True)


def machine() -> dict[str, Any]:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "git_sha": sha or "unknown",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def write_result(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": name, **machine(), **figures}
    path = RESULTS / f"{name}-{record['when'][:19].replace(':', '')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
