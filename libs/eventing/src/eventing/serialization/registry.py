"""Schema registry adapters.

:class:`ConfluentSchemaRegistry` talks to any registry exposing the Confluent REST API
(Confluent Schema Registry, or Apicurio Registry's ``/apis/ccompat/v7``).
:class:`InMemorySchemaRegistry` is the fake used by fast tests: same contract, no I/O.

Errors are translated at this boundary: a registry that cannot be reached raises
:class:`~eventing.exceptions.SchemaRegistryUnavailable` (transient: retry later); an
incompatible schema raises :class:`~eventing.exceptions.IncompatibleSchema` with the
registry's explanation of which field broke what.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import quote

import httpx
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from eventing.exceptions import EventingError, IncompatibleSchema, SchemaRegistryUnavailable
from eventing.serialization.compat import explain

#: Compatibility levels accepted by the Confluent API.
COMPATIBILITY_LEVELS = frozenset(
    {
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    }
)


class AbstractSchemaRegistry(ABC):
    """The operations the library needs from a schema registry (Avro only)."""

    @abstractmethod
    def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id."""

    @abstractmethod
    def lookup(self, subject: str, schema: str) -> int | None:
        """Return the id of ``schema`` if registered under ``subject``, else None."""

    @abstractmethod
    def get_schema(self, schema_id: int) -> str:
        """Return the schema text of ``schema_id`` (raises EventingError if unknown)."""

    @abstractmethod
    def set_compatibility(self, subject: str, level: str) -> None:
        """Set the compatibility rule of ``subject``."""

    @abstractmethod
    def compatibility_problems(self, subject: str, schema: str) -> list[str]:
        """Why ``schema`` would be rejected under ``subject`` ([] when it is accepted)."""


def _transport_errors() -> tuple[type[Exception], ...]:
    """The "could not reach the registry" errors of httpx and of the registry client's HTTP library.

    confluent-kafka's registry client uses httpx2 (httpx's successor) when it is installed, and
    httpx otherwise; the transport errors of the two are unrelated classes.
    """
    errors: list[type[Exception]] = [httpx.TransportError, OSError]
    try:
        import httpx2
    except ImportError:  # pragma: no cover - the client then uses httpx
        pass
    else:
        errors.append(httpx2.TransportError)
    return tuple(errors)


_TRANSPORT_ERRORS = _transport_errors()


def _is_connection_error(exc: Exception) -> bool:
    return isinstance(exc, _TRANSPORT_ERRORS)


class ConfluentSchemaRegistry(AbstractSchemaRegistry):
    """A registry speaking the Confluent REST API, through confluent-kafka's client.

    The client caches schemas by id, so after warm-up decoding makes no registry call.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._client = SchemaRegistryClient({"url": self.url, "timeout": timeout})

    def _call(self, what: str, context: dict[str, Any], fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except SchemaRegistryError as exc:
            if exc.http_status_code >= 500:
                raise SchemaRegistryUnavailable(
                    f"Schema registry failed to {what}: {exc.error_message}",
                    context={**context, "status": exc.http_status_code, "url": self.url},
                ) from exc
            if exc.http_status_code == 409:
                raise IncompatibleSchema(
                    f"Schema registry refused to {what}: {exc.error_message}",
                    messages=[exc.error_message],
                    context=context,
                ) from exc
            raise EventingError(
                f"Schema registry refused to {what}: {exc.error_message}",
                context={**context, "status": exc.http_status_code},
            ) from exc
        except Exception as exc:
            if _is_connection_error(exc):
                raise SchemaRegistryUnavailable(
                    f"Schema registry unreachable at {self.url}: {exc}", context=context
                ) from exc
            raise

    def register(self, subject: str, schema: str) -> int:
        result: int = self._call(
            "register a schema",
            {"subject": subject},
            self._client.register_schema,
            subject,
            Schema(schema, "AVRO"),
        )
        return result

    def lookup(self, subject: str, schema: str) -> int | None:
        try:
            registered = self._call(
                "look up a schema",
                {"subject": subject},
                self._client.lookup_schema,
                subject,
                Schema(schema, "AVRO"),
            )
        except EventingError as exc:
            if exc.context.get("status") == 404:
                return None
            raise
        return int(registered.schema_id)

    def get_schema(self, schema_id: int) -> str:
        schema = self._call("fetch a schema", {"schema_id": schema_id}, self._client.get_schema, schema_id)
        return str(schema.schema_str)

    def set_compatibility(self, subject: str, level: str) -> None:
        self._call(
            "set compatibility",
            {"subject": subject, "level": level},
            self._client.set_compatibility,
            subject,
            level,
        )

    def compatibility_problems(self, subject: str, schema: str) -> list[str]:
        """Ask the registry, verbosely, whether ``schema`` is compatible with ``subject``.

        Uses the REST API directly because the client's ``test_compatibility`` returns a
        bare boolean and drops the registry's explanation.
        """
        url = f"{self.url}/compatibility/subjects/{quote(subject, safe='')}/versions/latest"
        try:
            response = httpx.post(
                url,
                params={"verbose": "true"},
                json={"schema": schema, "schemaType": "AVRO"},
                headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            raise SchemaRegistryUnavailable(
                f"Schema registry unreachable at {self.url}: {exc}", context={"subject": subject}
            ) from exc
        if response.status_code == 404:
            return []  # no version yet: anything is compatible
        if response.status_code >= 500:
            raise SchemaRegistryUnavailable(
                "Schema registry failed the compatibility check: "
                f"HTTP {response.status_code} {response.text}",
                context={"subject": subject, "status": response.status_code, "url": self.url},
            )
        if response.status_code >= 400:
            raise EventingError(
                f"Compatibility check failed: HTTP {response.status_code} {response.text}",
                context={"subject": subject},
            )
        body = response.json()
        if body.get("is_compatible", False):
            return []
        messages = [str(m) for m in body.get("messages") or []]
        return messages or self._explain(subject, schema)

    def _explain(self, subject: str, schema: str) -> list[str]:
        """Field-level reasons, computed locally, when the registry gives none."""
        try:
            latest = self._client.get_latest_version(subject)
            level = self._client.get_compatibility(subject)
        except Exception:  # the explanation is best effort; the verdict stands
            return ["incompatible (the registry gave no details)"]
        return explain(str(latest.schema.schema_str), schema, level) or [
            f"incompatible under {level} (the registry gave no details)"
        ]

    def close(self) -> None:
        self._client.close()


class InMemorySchemaRegistry(AbstractSchemaRegistry):
    """A registry held in memory, for unit tests: ids are assigned in registration order.

    Identical schema text under a subject returns the same id. A subject's compatibility level
    (``set_compatibility``) is evaluated against its latest version with the library's own
    field-level check (``eventing.serialization.compat``: added fields without defaults,
    removed or retyped fields), so the fake refuses what the registry would in the common
    cases; ``incompatible`` lets a test force a refusal.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schemas: dict[int, str] = {}
        self._subjects: dict[str, list[int]] = {}
        self._compatibility: dict[str, str] = {}
        self.incompatible: dict[str, list[str]] = {}

    @staticmethod
    def _canonical(schema: str) -> str:
        return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))

    def register(self, subject: str, schema: str) -> int:
        problems = self.compatibility_problems(subject, schema)
        if problems:
            raise IncompatibleSchema(
                "Schema is incompatible", messages=problems, context={"subject": subject}
            )
        canonical = self._canonical(schema)
        with self._lock:
            for schema_id, text in self._schemas.items():
                if text == canonical:
                    versions = self._subjects.setdefault(subject, [])
                    if schema_id not in versions:
                        versions.append(schema_id)
                    return schema_id
            schema_id = len(self._schemas) + 1
            self._schemas[schema_id] = canonical
            self._subjects.setdefault(subject, []).append(schema_id)
            return schema_id

    def lookup(self, subject: str, schema: str) -> int | None:
        canonical = self._canonical(schema)
        for schema_id in self._subjects.get(subject, []):
            if self._schemas[schema_id] == canonical:
                return schema_id
        return None

    def get_schema(self, schema_id: int) -> str:
        try:
            return self._schemas[schema_id]
        except KeyError:
            raise EventingError("Schema not found", context={"schema_id": schema_id, "status": 404}) from None

    def set_compatibility(self, subject: str, level: str) -> None:
        self._compatibility[subject] = level

    def compatibility(self, subject: str) -> str | None:
        return self._compatibility.get(subject)

    def compatibility_problems(self, subject: str, schema: str) -> list[str]:
        forced = list(self.incompatible.get(subject, []))
        level = self._compatibility.get(subject, "NONE").upper()
        versions = self._subjects.get(subject, [])
        if forced or level == "NONE" or not versions:
            return forced
        return explain(self._schemas[versions[-1]], schema, level)
