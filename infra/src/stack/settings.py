"""Where the stack keeps its state and how it is reached, resolved once from the environment.

Every port has an environment variable, and every component can be replaced by an existing
server ("attach mode") by setting its URL variable; see ``docs/stack.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from stack.discovery import REPO_ROOT, discover
from stack.errors import StackError

LOOPBACK = "127.0.0.1"
"""Every server the stack starts listens on this address only."""

MAVEN_DIR = REPO_ROOT / "infra" / "maven"
"""The POMs pinning every downloaded distribution, and the Maven settings file."""

CCOMPAT_SUFFIX = "/apis/ccompat/v7"
APICURIO_V2_SUFFIX = "/apis/registry/v2"
SERVICES = discover()
"""The services of this checkout (``services/*/pyproject.toml`` with ``[tool.stack]``)."""
DEFAULT_DATABASES = tuple(dict.fromkeys(service.database for service in SERVICES))
REGISTRY_DATABASE = "registry"


@dataclass(frozen=True)
class PortSpec:
    """A port the stack listens on: its default, the variable that changes it, and what to set
    instead to use an existing server (the "attach" variable), for error messages."""

    env_var: str
    default: int
    attach_var: str | None = None


PORTS: dict[str, PortSpec] = {
    "postgres": PortSpec("POSTGRES_PORT", 5432, "POSTGRES_URL"),
    "kafka": PortSpec("KAFKA_PORT", 9092, "KAFKA_BOOTSTRAP_SERVERS"),
    "kafka-controller": PortSpec("KAFKA_CONTROLLER_PORT", 9093, "KAFKA_BOOTSTRAP_SERVERS"),
    "registry": PortSpec("SCHEMA_REGISTRY_PORT", 8081, "SCHEMA_REGISTRY_URL"),
    "registry-management": PortSpec("SCHEMA_REGISTRY_MANAGEMENT_PORT", 8091, "SCHEMA_REGISTRY_URL"),
    "connect": PortSpec("CONNECT_PORT", 8083, "CONNECT_URL"),
    # each service's HTTP port, then the Prometheus /metrics of its consumer process (which has
    # no web server of its own), as the service declares them
    **{service.name: PortSpec(f"{service.env_prefix}_PORT", service.port) for service in SERVICES},
    **{
        f"{service.name}-consumer": PortSpec(
            f"{service.env_prefix}_CONSUMER_METRICS_PORT", service.consumer_metrics_port
        )
        for service in SERVICES
        if service.consumer_metrics_port is not None
    },
}
"""Ports of every component we listen with, by name."""


@dataclass(frozen=True)
class StackPaths:
    """The directories under ``$STACK_HOME`` (default ``<repo>/.stack``).

    ``dist`` holds downloaded distributions (kept by ``reset``), ``data`` every component's
    persistent data, ``logs`` one log file per component, ``run`` pid files and the Postgres
    socket, ``conf`` configuration files generated on each start.
    """

    home: Path

    @property
    def dist(self) -> Path:
        return self.home / "dist"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def conf(self) -> Path:
        return self.home / "conf"

    def log(self, name: str) -> Path:
        """The log file of component ``name`` (its stdout and stderr)."""
        return self.logs / f"{name}.log"

    def pid(self, name: str) -> Path:
        """The pid file of component ``name``."""
        return self.run / f"{name}.pid"


@dataclass(frozen=True)
class PostgresTarget:
    """How to reach a Postgres server as a superuser (ours, or an attached one)."""

    host: str
    port: int
    user: str
    password: str

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq key/value connection string for ``dbname``."""
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password} dbname={dbname} connect_timeout=3"
        )

    def url(self, dbname: str) -> str:
        """A ``postgresql://`` URL for ``dbname`` (the form Django's DATABASE_URL takes)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{dbname}"

    def jdbc_url(self, dbname: str) -> str:
        """A JDBC URL for ``dbname``, for the registry's storage."""
        return f"jdbc:postgresql://{self.host}:{self.port}/{dbname}"


@dataclass(frozen=True)
class Settings:
    """Everything the stack needs to know from the environment, read once.

    Attach fields (``*_attach``) are ``None`` when the stack runs that component itself.
    """

    paths: StackPaths
    ports: Mapping[str, int]
    postgres_password: str
    databases: tuple[str, ...]
    postgres_bin: Path
    java_home: Path | None
    postgres_attach: PostgresTarget | None
    kafka_attach: str | None
    registry_attach: str | None
    apicurio_v2_override: str | None
    connect_attach: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Resolve the settings from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("STACK_HOME") or REPO_ROOT / ".stack").resolve()
        databases = tuple(
            d.strip() for d in env.get("STACK_DATABASES", ",".join(DEFAULT_DATABASES)).split(",")
        )
        java_home = env.get("JAVA_HOME")
        return cls(
            paths=StackPaths(home),
            ports={name: _port(env, spec) for name, spec in PORTS.items()},
            postgres_password=env.get("POSTGRES_PASSWORD", "postgres"),
            databases=tuple(d for d in databases if d),
            postgres_bin=Path(env.get("POSTGRES_BIN_DIR") or "/usr/lib/postgresql/15/bin"),
            java_home=Path(java_home) if java_home else None,
            postgres_attach=_postgres_url(env.get("POSTGRES_URL")),
            kafka_attach=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            registry_attach=(env.get("SCHEMA_REGISTRY_URL") or "").rstrip("/") or None,
            apicurio_v2_override=(env.get("APICURIO_REGISTRY_URL") or "").rstrip("/") or None,
            connect_attach=(env.get("CONNECT_URL") or "").rstrip("/") or None,
        )

    # Resolved endpoints: the attached server when one is given, ours otherwise.

    @property
    def postgres(self) -> PostgresTarget:
        """The Postgres server every database lives on."""
        if self.postgres_attach:
            return self.postgres_attach
        return PostgresTarget(LOOPBACK, self.ports["postgres"], "postgres", self.postgres_password)

    @property
    def kafka_bootstrap_servers(self) -> str:
        """``host:port`` list of the Kafka brokers."""
        return self.kafka_attach or f"{LOOPBACK}:{self.ports['kafka']}"

    @property
    def schema_registry_url(self) -> str:
        """The Confluent-compatible registry API (what ``SchemaRegistryClient`` is given)."""
        return self.registry_attach or f"http://{LOOPBACK}:{self.ports['registry']}{CCOMPAT_SUFFIX}"

    @property
    def registry_base_url(self) -> str:
        """The registry's root URL (for its own ``/apis/registry/v3`` API and health)."""
        url = self.schema_registry_url
        return url[: -len(CCOMPAT_SUFFIX)] if url.endswith(CCOMPAT_SUFFIX) else url

    @property
    def apicurio_v2_url(self) -> str:
        """Apicurio's v2 REST API, which the Connect ``AvroConverter`` (2.6.x) talks to.

        Derived from :attr:`schema_registry_url` by swapping the ccompat suffix, unless
        ``APICURIO_REGISTRY_URL`` overrides it.
        """
        if self.apicurio_v2_override:
            return self.apicurio_v2_override
        url = self.schema_registry_url
        if not url.endswith(CCOMPAT_SUFFIX):
            raise StackError(
                f"cannot derive the Apicurio v2 URL from SCHEMA_REGISTRY_URL={url} (it does not "
                f"end with {CCOMPAT_SUFFIX}); set APICURIO_REGISTRY_URL to the registry's "
                f"{APICURIO_V2_SUFFIX} URL"
            )
        return url[: -len(CCOMPAT_SUFFIX)] + APICURIO_V2_SUFFIX

    @property
    def connect_url(self) -> str:
        """The Kafka Connect REST API."""
        return self.connect_attach or f"http://{LOOPBACK}:{self.ports['connect']}"

    @property
    def all_databases(self) -> tuple[str, ...]:
        """The service databases plus the registry's."""
        return (*self.databases, REGISTRY_DATABASE)

    def environment(self) -> dict[str, str]:
        """The variables a service (or a shell) needs to reach this stack, attach mode included."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "SCHEMA_REGISTRY_URL": self.schema_registry_url,
            "APICURIO_REGISTRY_URL": self.apicurio_v2_url,
            "CONNECT_URL": self.connect_url,
            "POSTGRES_URL": self.postgres.url("postgres").rsplit("/", 1)[0],
        }


def _port(env: Mapping[str, str], spec: PortSpec) -> int:
    raw = env.get(spec.env_var)
    if not raw:
        return spec.default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{spec.env_var}={raw!r} is not a TCP port number (1-65535)")
    return int(raw)


def _postgres_url(raw: str | None) -> PostgresTarget | None:
    if not raw:
        return None
    url = urlsplit(raw)
    if url.scheme not in ("postgresql", "postgres") or not url.hostname:
        raise StackError(f"POSTGRES_URL={raw!r} is not a postgresql://user:password@host:port URL")
    return PostgresTarget(
        host=url.hostname,
        port=url.port or 5432,
        user=unquote(url.username or "postgres"),
        password=unquote(url.password or ""),
    )
