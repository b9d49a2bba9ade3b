"""The three Django services as stack components: web servers and event consumers.

``make up`` folds the seed's separate init steps into the start of each web component:
migrations, the development superuser, schema registration and the Debezium connectors.
Then gunicorn serves the API, each consumer runs ``manage.py eventing_consume``, and each
service with connectors runs ``manage.py eventing_connectors supervise`` (restarts FAILED or
stuck connectors with backoff).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from stack.discovery import Service
from stack.errors import StackError
from stack.executor import Component, PortBinding, ProcessComponent
from stack.probes import HttpProbe, NotReady
from stack.settings import LOOPBACK, SERVICES, Settings

__all__ = ["SERVICES", "Service", "components", "service_env"]


def components(s: Settings) -> list[Component]:
    """Web component then consumer component, for each service, in dependency order."""
    built: list[Component] = []
    for service in SERVICES:
        built.append(_web(s, service))
        if service.consumer_group:
            built.append(_consumer(s, service))
        if service.connectors:
            built.append(_supervisor(s, service))
    return built


def service_env(s: Settings, service: Service) -> dict[str, str]:
    """Environment of a service process: the stack's endpoints plus its own database."""
    return {
        **s.environment(),
        "DATABASE_URL": s.postgres.url(service.database),
        "DJANGO_SETTINGS_MODULE": service.settings_module,
        "PORT": str(s.ports[service.name]),
        "PYTHONUNBUFFERED": "1",
    }


def _manage(s: Settings, service: Service, *args: str, timeout: float = 180.0) -> Callable[[], None]:
    """A hook running ``manage.py <args>`` for ``service``; a failure stops ``up`` with its output."""

    def run() -> None:
        command = [sys.executable, "-m", "django", *args]
        result = subprocess.run(
            command,
            cwd=service.directory,
            env={**os.environ, **service_env(s, service)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip().splitlines()[-15:]
            raise StackError(
                f"{service.name}: `manage.py {' '.join(args)}` failed:\n  " + "\n  ".join(output)
            )

    return run


def _production() -> bool:
    return os.environ.get("DJANGO_ENV", "development").strip().lower() == "production"


def _web(s: Settings, service: Service) -> Component:
    port = s.ports[service.name]
    prepare = [_manage(s, service, "migrate", "--no-input")]
    if not _production():
        prepare.append(_manage(s, service, "ensure_dev_superuser"))
    prepare.append(_manage(s, service, "eventing_schemas", "register"))
    after_ready: Sequence[Callable[[], None]] = (
        [_manage(s, service, "eventing_connectors", "apply")] if service.connectors else []
    )
    return ProcessComponent(
        name=service.name,
        argv=[sys.executable, "-m", "gunicorn", "-c", str(service.directory / "gunicorn.conf.py")],
        env=service_env(s, service),
        # Readiness of the web process itself; its consumer is a component of its own.
        probe=HttpProbe(f"http://{LOOPBACK}:{port}/health/?only=database"),
        paths=s.paths,
        endpoint=f"http://{LOOPBACK}:{port}",
        ports=[PortBinding.of(service.name, s.ports)],
        cwd=service.directory,
        depends_on=("postgres", "kafka", "registry", "connect"),
        prepare=prepare,
        after_ready=after_ready,
        start_timeout=120.0,
        stop_timeout=40.0,  # gunicorn's graceful timeout (30 s) plus margin
    )


@dataclass(frozen=True)
class StatusRowProbe:
    """Ready when this process has written a fresh row into its status table.

    Consumers write ``eventing_consumer_status`` (one row per member, filtered by group),
    supervisors ``eventing_connector_supervision`` (one row per connector). Matching the pid in
    the component's pid file makes sure it is *this* process that reported, not a predecessor.
    """

    conninfo: str
    table: str
    what: str
    pid_file: Path
    group: str | None = None
    max_age_seconds: int = 30

    def __call__(self) -> None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError) as exc:
            raise NotReady("no pid file") from exc
        params: list[object]
        where, params = "pid = %s", [pid]
        if self.group is not None:
            where, params = "consumer_group = %s AND pid = %s", [self.group, pid]
        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=3) as conn:
                row = conn.execute(
                    f"SELECT 1 FROM {self.table} WHERE {where}"  # noqa: S608 - our constants
                    " AND seen_at > now() - make_interval(secs => %s)",
                    (*params, self.max_age_seconds),
                ).fetchone()
        except psycopg.Error as exc:
            raise NotReady(str(exc).splitlines()[0]) from exc
        if row is None:
            raise NotReady(f"{self.what} (pid {pid}) has not reported yet")


def _consumer(s: Settings, service: Service) -> Component:
    if service.consumer_group is None:
        raise StackError(f"{service.name} has no consumer group")
    name = f"{service.name}-consumer"
    env = service_env(s, service)
    env.pop("PORT")
    return ProcessComponent(
        name=name,
        argv=[
            sys.executable,
            "-m",
            "django",
            "eventing_consume",
            "--group",
            service.consumer_group,
            "--metrics-port",
            str(s.ports[name]),
        ],
        env=env,
        ports=[PortBinding.of(name, s.ports)],
        probe=StatusRowProbe(
            s.postgres.url(service.database),
            "eventing_consumer_status",
            f"consumer {service.consumer_group}",
            s.paths.pid(name),
            group=service.consumer_group,
        ),
        paths=s.paths,
        endpoint=f"consumer group {service.consumer_group}, metrics http://127.0.0.1:{s.ports[name]}/metrics",
        cwd=service.directory,
        depends_on=(service.name,),
        start_timeout=90.0,
        stop_timeout=40.0,  # finish the batch in hand, commit, leave the group
    )


def _supervisor(s: Settings, service: Service) -> Component:
    name = f"{service.name}-supervisor"
    env = service_env(s, service)
    env.pop("PORT")
    return ProcessComponent(
        name=name,
        argv=[sys.executable, "-m", "django", "eventing_connectors", "supervise"],
        env=env,
        probe=StatusRowProbe(
            s.postgres.url(service.database),
            "eventing_connector_supervision",
            "connector supervisor",
            s.paths.pid(name),
        ),
        paths=s.paths,
        endpoint="connector supervisor",
        cwd=service.directory,
        depends_on=(service.name,),
        start_timeout=60.0,
        stop_timeout=15.0,
    )
