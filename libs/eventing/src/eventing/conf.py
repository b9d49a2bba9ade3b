"""Typed access to ``settings.EVENTING``.

The library reads only this one namespaced setting. Every key has a default, listed in
:data:`DEFAULTS` with a one-line comment, and ``eventing.checks`` validates the values at
start-up. The accessor reloads when Django's ``setting_changed`` signal fires, so
``override_settings(EVENTING=...)`` works in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING_NAME = "EVENTING"

DEFAULTS: dict[str, Any] = {
    # CloudEvents `source` of events this service publishes, e.g. "/customers". Required to publish.
    "SOURCE": None,
    # Kafka bootstrap servers (librdkafka `bootstrap.servers`).
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    # Extra librdkafka settings merged into every consumer and producer config.
    "KAFKA_CONFIG": {},
    # URL of a Confluent-compatible schema registry API (Apicurio: .../apis/ccompat/v7).
    "SCHEMA_REGISTRY_URL": "http://127.0.0.1:8081/apis/ccompat/v7",
    # The Avro converter Kafka Connect writes table captures with: "apicurio" (Apicurio
    # Registry's converter) or "confluent" (Confluent's, against a Confluent Schema Registry).
    "CONNECT_AVRO_CONVERTER": "apicurio",
    # The registry as the Connect worker reaches it, for that converter. None: derived from
    # SCHEMA_REGISTRY_URL (apicurio: .../apis/registry/v2 in place of .../apis/ccompat/v7;
    # confluent: SCHEMA_REGISTRY_URL itself).
    "CONNECT_REGISTRY_URL": None,
    # Public base URL of the registry's Confluent API as any consumer can reach it, e.g.
    # "https://registry.example.com/apis/ccompat/v7": ce_dataschema is then
    # <base>/schemas/ids/<id>. None: the portable form urn:schema-registry:ids:<id> (the id
    # is the one in the Avro payload's wire-format header; resolve it in your own registry).
    "DATASCHEMA_BASE": None,
    # Directory holding the .avsc files that EventType.schema paths are relative to.
    "SCHEMA_ROOT": None,
    # Compatibility level set on every subject this service owns before registering.
    "SCHEMA_COMPATIBILITY": "BACKWARD",
    # Register owned schemas at start-up (eventing.startup()); when False, only look them up.
    "REGISTER_SCHEMAS_ON_STARTUP": True,
    # Delete each outbox row in the transaction that inserts it (Debezium reads the insert
    # from the WAL; the table stays empty). False (the default) keeps rows for
    # OUTBOX_RETENTION, so the events of a lost replication slot can be re-emitted
    # (`eventing_cdc recover`).
    "OUTBOX_DELETE_AFTER_INSERT": False,
    # Seconds a kept outbox row stays; the outbox connector's heartbeat purges older rows
    # (only while it streams, so rows written while it is down are never purged unread).
    "OUTBOX_RETENTION": 24 * 3600,
    # Maximum messages taken from Kafka per poll (one DB transaction per batch).
    "CONSUMER_BATCH_SIZE": 500,
    # Seconds a poll waits for messages when nothing else is due.
    "CONSUMER_POLL_TIMEOUT": 0.5,
    # Attempts of a failing handler before its event goes to the dead-letter topic.
    "CONSUMER_MAX_ATTEMPTS": 5,
    # Backoff before the first retry, in seconds; doubles (CONSUMER_BACKOFF_MULTIPLIER) up to the max.
    "CONSUMER_BACKOFF_INITIAL": 0.5,
    "CONSUMER_BACKOFF_MULTIPLIER": 2.0,
    "CONSUMER_BACKOFF_MAX": 30.0,
    # Events held back for retry (per-key order) above which partitions are paused.
    "CONSUMER_MAX_PENDING": 10_000,
    # Seconds the consumer may take to finish in-flight work after SIGTERM before it exits.
    "CONSUMER_SHUTDOWN_TIMEOUT": 30.0,
    # Create missing source and dead-letter topics when a consumer starts (else the broker's
    # auto-creation, or an operator, must have made them).
    "CREATE_TOPICS": True,
    # Partitions and replication factor of topics the library creates (-1: broker default).
    "TOPIC_PARTITIONS": 3,
    "TOPIC_REPLICATION_FACTOR": -1,
    # Dead-letter topic name; {group} and {topic} are substituted.
    "DEAD_LETTER_TOPIC": "{group}.{topic}.dlt",
    # Seconds an inbox row (processed event id) is kept; older rows are purged.
    "INBOX_RETENTION": 7 * 24 * 3600,
    # Seconds between inbox purges run by a live consumer (0 disables; use `eventing_purge`).
    "INBOX_PURGE_INTERVAL": 3600,
    # Consumer middleware (dotted paths of classes, called in order around each batch and per
    # outcome; see eventing.consumer.middleware). The default feeds the Prometheus metrics.
    "CONSUMER_MIDDLEWARE": ["eventing.metrics.MetricsMiddleware"],
    # Port on which `eventing_consume` serves its Prometheus metrics at /metrics (None: off).
    "CONSUMER_METRICS_PORT": None,
    # Address that port binds to (loopback by default; a pod would use 0.0.0.0).
    "CONSUMER_METRICS_ADDRESS": "127.0.0.1",
    # Consumer groups this service runs (`eventing_consume --group`), shown with their lag on
    # the flow page (/eventing/flow/); groups named by handlers or with a status row are too.
    "CONSUMER_GROUPS": [],
    # Kafka Connect REST URL, for `eventing_connectors`.
    "CONNECT_URL": "http://127.0.0.1:8083",
    # Dotted paths of callables returning connector definitions (eventing.connect.Connector).
    "CONNECTORS": [],
    # Database host/port as seen from the Kafka Connect worker (None: same as Django's).
    "CONNECT_DATABASE_HOST": None,
    "CONNECT_DATABASE_PORT": None,
}


class EventingSettings:
    """Typed attribute access to ``settings.EVENTING`` with defaults.

    ``eventing_settings.SOURCE`` returns the user's value or the default; unknown names
    raise ``AttributeError`` so typos fail loudly. Each key's type is declared below (one
    annotation per key of ``DEFAULTS``): type checkers see it, and :func:`type_problems` checks
    the user's values against it (system check ``eventing.E009``), so a wrong type is named at
    start-up rather than failing deep inside a consumer.
    """

    SOURCE: str | None
    KAFKA_BOOTSTRAP_SERVERS: str
    KAFKA_CONFIG: dict[str, Any]
    SCHEMA_REGISTRY_URL: str
    CONNECT_AVRO_CONVERTER: str
    CONNECT_REGISTRY_URL: str | None
    DATASCHEMA_BASE: str | None
    SCHEMA_ROOT: str | None
    SCHEMA_COMPATIBILITY: str
    REGISTER_SCHEMAS_ON_STARTUP: bool
    OUTBOX_DELETE_AFTER_INSERT: bool
    OUTBOX_RETENTION: float
    CONSUMER_BATCH_SIZE: int
    CONSUMER_POLL_TIMEOUT: float
    CONSUMER_MAX_ATTEMPTS: int
    CONSUMER_BACKOFF_INITIAL: float
    CONSUMER_BACKOFF_MULTIPLIER: float
    CONSUMER_BACKOFF_MAX: float
    CONSUMER_MAX_PENDING: int
    CONSUMER_SHUTDOWN_TIMEOUT: float
    CREATE_TOPICS: bool
    TOPIC_PARTITIONS: int
    TOPIC_REPLICATION_FACTOR: int
    DEAD_LETTER_TOPIC: str
    INBOX_RETENTION: float
    INBOX_PURGE_INTERVAL: float
    CONSUMER_MIDDLEWARE: list[str]
    CONSUMER_METRICS_PORT: int | None
    CONSUMER_METRICS_ADDRESS: str
    CONSUMER_GROUPS: list[str]
    CONNECT_URL: str
    CONNECTORS: list[str]
    CONNECT_DATABASE_HOST: str | None
    CONNECT_DATABASE_PORT: int | None

    def __init__(self, user_settings: Mapping[str, Any] | None = None) -> None:
        self._user_settings = user_settings
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> Mapping[str, Any]:
        if self._user_settings is None:
            self._user_settings = getattr(settings, SETTING_NAME, {}) or {}
        return self._user_settings

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown eventing setting {name!r}")
        if name not in self._cache:
            self._cache[name] = self.user_settings.get(name, DEFAULTS[name])
        return self._cache[name]

    def kafka_config(self, **overrides: Any) -> dict[str, Any]:
        """librdkafka config: bootstrap servers, then ``KAFKA_CONFIG``, then ``overrides``."""
        config: dict[str, Any] = {"bootstrap.servers": self.KAFKA_BOOTSTRAP_SERVERS}
        config.update(self.KAFKA_CONFIG)
        config.update(overrides)
        return config

    def schema_root(self) -> Path | None:
        root = self.SCHEMA_ROOT
        return Path(root) if root else None

    def reload(self) -> None:
        self._user_settings = None
        self._cache.clear()


eventing_settings = EventingSettings()


def _matches(value: Any, expected: Any) -> bool:
    """Whether ``value`` is a valid ``expected`` (the annotation, as a string)."""
    if expected.endswith(" | None"):
        return value is None or _matches(value, expected.removesuffix(" | None"))
    if expected == "bool":
        return isinstance(value, bool)
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "str":
        return isinstance(value, (str, Path))
    if expected == "list[str]":
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if expected == "dict[str, Any]":
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
    raise AssertionError(f"no check for the setting type {expected!r}")


def type_problems(user_settings: Mapping[str, Any], *, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """``{key: message}`` for each user value that is not of its key's declared type."""
    declared: dict[str, str] = EventingSettings.__annotations__
    problems: dict[str, str] = {}
    for key, value in user_settings.items():
        expected = declared.get(key)
        if expected is None or key in skip or _matches(value, expected):
            continue
        problems[key] = f"{SETTING_NAME}[{key!r}] must be {expected}, got {value!r}"
    return problems


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        eventing_settings.reload()
