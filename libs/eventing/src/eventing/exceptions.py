"""Errors raised by the eventing library.

Every error descends from :class:`EventingError` and carries a ``context`` mapping
(event id, topic, subject, ...) so that logs and dead-letter headers can say *which*
event or schema was involved, not only what went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class EventingError(Exception):
    """Base class of every error raised by :mod:`eventing`."""

    def __init__(self, message: str, *, context: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = dict(context or {})

    def __str__(self) -> str:
        if not self.context:
            return self.message
        details = ", ".join(f"{k}={v!r}" for k, v in sorted(self.context.items()))
        return f"{self.message} ({details})"


class ConfigurationError(EventingError):
    """``settings.EVENTING`` (or an event declaration) is invalid."""


class NotInTransaction(EventingError):
    """``publish()`` was called outside ``transaction.atomic()``.

    Publishing outside a transaction would make the event independent of the change it
    describes (a dual write), which is exactly what the outbox exists to prevent.
    """


class SchemaNotRegistered(EventingError):
    """An event was published before its schema id was registered and cached.

    Schema ids are resolved at start-up (``eventing.startup()``) or by the
    ``eventing_schemas register`` command, never inside a request's transaction.
    """


class SchemaRegistryUnavailable(EventingError):
    """The schema registry could not be reached (a transient, infrastructure error)."""


class IncompatibleSchema(EventingError):
    """A schema change breaks the subject's compatibility rule."""

    def __init__(
        self,
        message: str,
        *,
        messages: list[str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, context=context)
        self.messages = list(messages or [])


class DecodeError(EventingError):
    """A message could not be decoded (bad framing, unknown schema id, corrupt body).

    A decode error is permanent for that message: it goes to the dead-letter topic at once.
    """


class InvalidEnvelope(EventingError):
    """A message lacks required CloudEvents attributes (e.g. ``ce_id`` or ``ce_type``)."""


class ConnectorError(EventingError):
    """Kafka Connect refused a connector, or a connector/task failed."""
