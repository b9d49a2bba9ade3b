"""System checks for ``settings.EVENTING`` (ids ``eventing.E00N`` / ``eventing.W00N``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from eventing.conf import DEFAULTS, SETTING_NAME, eventing_settings, type_problems
from eventing.events import catalog
from eventing.exceptions import ConfigurationError
from eventing.serialization.registry import COMPATIBILITY_LEVELS


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate keys, types and referenced files of ``settings.EVENTING``."""
    messages: list[CheckMessage] = []
    unknown = sorted(set(eventing_settings.user_settings) - set(DEFAULTS))
    if unknown:
        messages.append(
            Error(
                f"Unknown {SETTING_NAME} keys: {', '.join(unknown)}",
                hint=f"Valid keys: {', '.join(sorted(DEFAULTS))}",
                id="eventing.E001",
            )
        )
    if str(eventing_settings.SCHEMA_COMPATIBILITY).upper() not in COMPATIBILITY_LEVELS:
        messages.append(
            Error(
                f"{SETTING_NAME}['SCHEMA_COMPATIBILITY'] must be one of "
                f"{', '.join(sorted(COMPATIBILITY_LEVELS))}",
                id="eventing.E002",
            )
        )
    owned = catalog.owned()
    if owned and not eventing_settings.SOURCE:
        messages.append(
            Error(
                f"{SETTING_NAME}['SOURCE'] is required to publish events",
                hint='Set it to the CloudEvents source of this service, e.g. "/customers".',
                id="eventing.E003",
            )
        )
    for event_type in catalog:
        try:
            event_type.load_schema(eventing_settings.schema_root())
        except ConfigurationError as exc:
            messages.append(Error(str(exc), id="eventing.E004"))
    for name in ("CONSUMER_BATCH_SIZE", "CONSUMER_MAX_ATTEMPTS"):
        value = getattr(eventing_settings, name)
        if not isinstance(value, int) or value < 1:
            messages.append(Error(f"{SETTING_NAME}['{name}'] must be a positive integer", id="eventing.E005"))
    if eventing_settings.OUTBOX_DELETE_AFTER_INSERT:
        messages.append(
            Warning(
                "Outbox rows are deleted at insert: if a replication slot is lost, the events of "
                "the gap cannot be re-emitted (`eventing_cdc recover`).",
                hint="Keep OUTBOX_DELETE_AFTER_INSERT False and size OUTBOX_RETENTION instead.",
                id="eventing.W001",
            )
        )
    retention = eventing_settings.OUTBOX_RETENTION
    if not isinstance(retention, (int, float)) or retention <= 0:
        messages.append(
            Error(
                f"{SETTING_NAME}['OUTBOX_RETENTION'] must be a positive number of seconds", id="eventing.E006"
            )
        )
    base = eventing_settings.DATASCHEMA_BASE
    if base is not None and not _is_public_url(base):
        messages.append(
            Error(
                f"{SETTING_NAME}['DATASCHEMA_BASE'] must be an http(s) URL that other hosts resolve "
                f"(not loopback), got {base!r}",
                hint="Use the registry's public Confluent API URL, or None for urn:schema-registry:ids:<id>.",
                id="eventing.E007",
            )
        )
    from eventing.connect.converters import STRATEGIES

    if str(eventing_settings.CONNECT_AVRO_CONVERTER).lower() not in STRATEGIES:
        messages.append(
            Error(
                f"{SETTING_NAME}['CONNECT_AVRO_CONVERTER'] must be one of {', '.join(sorted(STRATEGIES))}, "
                f"got {eventing_settings.CONNECT_AVRO_CONVERTER!r}",
                id="eventing.E008",
            )
        )
    messages.extend(_check_consumer_metrics())
    messages.extend(_check_connectors())
    for key, problem in type_problems(eventing_settings.user_settings, skip=_CHECKED_ELSEWHERE).items():
        messages.append(Error(problem, hint=f"Default: {DEFAULTS[key]!r}", id="eventing.E009"))
    return messages


#: Keys whose values a dedicated check above validates (with a more specific message).
_CHECKED_ELSEWHERE = frozenset(
    {
        "SCHEMA_COMPATIBILITY",
        "CONSUMER_BATCH_SIZE",
        "CONSUMER_MAX_ATTEMPTS",
        "OUTBOX_RETENTION",
        "DATASCHEMA_BASE",
        "CONNECT_AVRO_CONVERTER",
        "CONSUMER_MIDDLEWARE",
        "CONSUMER_METRICS_PORT",
        "CONNECTORS",
    }
)


def _check_connectors() -> list[CheckMessage]:
    """Each entry of CONNECTORS a dotted path that imports (E022); they are called only by commands."""
    from django.utils.module_loading import import_string

    configured: Any = eventing_settings.CONNECTORS  # checked here: may be anything
    if isinstance(configured, str) or not isinstance(configured, (list, tuple)):
        return [
            Error(
                f"{SETTING_NAME}['CONNECTORS'] must be a list of dotted paths, got {configured!r}",
                id="eventing.E022",
            )
        ]
    messages: list[CheckMessage] = []
    for path in configured:
        try:
            import_string(str(path))
        except ImportError as exc:
            messages.append(
                Error(
                    f"{SETTING_NAME}['CONNECTORS']: cannot import {path!r}: {exc}",
                    hint="List dotted paths of callables returning eventing.connect.Connector definitions.",
                    id="eventing.E022",
                )
            )
    return messages


def _check_consumer_metrics() -> list[CheckMessage]:
    """CONSUMER_MIDDLEWARE importable (E020); CONSUMER_METRICS_PORT a port or None (E021)."""
    from django.utils.module_loading import import_string

    messages: list[CheckMessage] = []
    configured: Any = eventing_settings.CONSUMER_MIDDLEWARE  # checked here: may be anything
    paths: list[Any] = list(configured) if isinstance(configured, (list, tuple)) else [configured]
    for path in paths:
        try:
            import_string(str(path))
        except ImportError as exc:
            messages.append(
                Error(
                    f"{SETTING_NAME}['CONSUMER_MIDDLEWARE']: cannot import {path!r}: {exc}",
                    hint="List dotted paths of consumer middleware classes.",
                    id="eventing.E020",
                )
            )
    port = eventing_settings.CONSUMER_METRICS_PORT
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
        messages.append(
            Error(
                f"{SETTING_NAME}['CONSUMER_METRICS_PORT'] must be None or a port number, got {port!r}",
                id="eventing.E021",
            )
        )
    return messages


def _is_public_url(value: object) -> bool:
    parts = urlsplit(str(value))
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and bool(host) and host not in _LOOPBACK_HOSTS


_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104
