"""The services of the repository, discovered from their own folders.

Each ``services/<name>/pyproject.toml`` with a ``[tool.stack]`` table is one service the stack
runs, the test runner tests and the deployment tooling describes::

    [tool.stack]
    database = "orders"         # its PostgreSQL database (created by the stack)
    port = 8002                 # its HTTP port (variable <NAME>_PORT changes it)
    connectors = true           # it owns Debezium connectors: a connector supervisor runs

    [tool.stack.consumer]       # it consumes events: one consumer process of this group
    group = "orders.translator"
    metrics_port = 9102         # the consumer's /metrics (variable <NAME>_CONSUMER_METRICS_PORT)

Its Django project is ``<name>_site`` in the same folder. Adding a service is adding a folder:
nothing outside it names the services.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.errors import StackError

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICES_DIR = REPO_ROOT / "services"


@dataclass(frozen=True)
class Service:
    """One service: its Django settings module, database and what it runs besides the API."""

    name: str
    database: str
    port: int = 0
    consumer_group: str | None = None
    consumer_metrics_port: int | None = None
    connectors: bool = False

    @property
    def settings_module(self) -> str:
        return f"{self.name}_site.settings"

    @property
    def directory(self) -> Path:
        return SERVICES_DIR / self.name

    @property
    def env_prefix(self) -> str:
        """``ORDERS`` for ``orders``: the prefix of its port variables."""
        return self.name.upper().replace("-", "_")


def discover(services_dir: Path = SERVICES_DIR) -> tuple[Service, ...]:
    """Every service folder under ``services_dir`` that declares ``[tool.stack]``, by name."""
    found: list[Service] = []
    if not services_dir.is_dir():
        return ()
    for folder in sorted(p for p in services_dir.iterdir() if p.is_dir()):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            document = tomllib.loads(pyproject.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise StackError(f"{pyproject}: cannot read it: {exc}") from exc
        table = document.get("tool", {}).get("stack")
        if table is None:
            continue
        found.append(_service(folder.name, table, pyproject))
    _refuse_clashes(found)
    return tuple(found)


def _service(name: str, table: Any, where: Path) -> Service:
    def fail(message: str) -> StackError:
        return StackError(f"{where} [tool.stack]: {message}")

    if not isinstance(table, dict):
        raise fail("must be a table")
    unknown = sorted(set(table) - {"database", "port", "connectors", "consumer"})
    if unknown:
        raise fail(f"unknown keys {', '.join(unknown)} (known: database, port, connectors, consumer)")
    database, port, connectors = table.get("database"), table.get("port"), table.get("connectors", False)
    if not isinstance(database, str) or not database:
        raise fail('database must be a database name, e.g. database = "orders"')
    if not isinstance(port, int) or not _is_port(port):
        raise fail("port must be a port number, e.g. port = 8002")
    if not isinstance(connectors, bool):
        raise fail("connectors must be true or false")
    consumer = table.get("consumer")
    group = metrics_port = None
    if consumer is not None:
        if not isinstance(consumer, dict) or set(consumer) - {"group", "metrics_port"}:
            raise fail("[tool.stack.consumer] takes group and metrics_port")
        group, metrics_port = consumer.get("group"), consumer.get("metrics_port")
        if not isinstance(group, str) or not group:
            raise fail('consumer.group must be a consumer group name, e.g. group = "orders.translator"')
        if not _is_port(metrics_port):
            raise fail("consumer.metrics_port must be a port number")
    return Service(
        name=name,
        database=database,
        port=port,
        consumer_group=group,
        consumer_metrics_port=metrics_port,
        connectors=connectors,
    )


def _is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _refuse_clashes(services: list[Service]) -> None:
    seen: dict[int, str] = {}
    for service in services:
        for port, what in (
            (service.port, service.name),
            (service.consumer_metrics_port, f"{service.name} consumer"),
        ):
            if port is None:
                continue
            if port in seen:
                raise StackError(f"services/{service.name}: port {port} of {what} is also {seen[port]}'s")
            seen[port] = what
