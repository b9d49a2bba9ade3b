"""django-eventing: transactional outbox, CloudEvents + Avro, idempotent Kafka consumers.

Public API (import from ``eventing``):

* :func:`declare` / :class:`EventType`: declare an event once (type, topic, schema, key).
* :func:`publish`: write an event into the outbox inside the caller's transaction;
  :func:`publish_many` / :class:`Outgoing`: many events with one statement (batch handlers).
* :func:`handler` / :func:`raw_handler`: register consumer handlers;
  :class:`RetryPolicy` / :class:`Backoff`: a handler's own retry policy (``retry=``).
* :class:`Event`: what a handler receives.
* :func:`startup`: resolve schema ids before traffic (web and consumer processes).

Names that touch models are loaded lazily, so ``import eventing`` is safe in settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventing.events import Event, EventType, declare
from eventing.exceptions import EventingError

if TYPE_CHECKING:
    from eventing.consumer.registry import handler, raw_handler
    from eventing.consumer.retry import Backoff, RetryPolicy
    from eventing.outbox.publish import Outgoing, publish, publish_many
    from eventing.startup import startup

__all__ = [
    "Backoff",
    "Event",
    "EventType",
    "EventingError",
    "Outgoing",
    "RetryPolicy",
    "declare",
    "handler",
    "publish",
    "publish_many",
    "raw_handler",
    "startup",
]

_LAZY = {
    "publish": ("eventing.outbox.publish", "publish"),
    "publish_many": ("eventing.outbox.publish", "publish_many"),
    "Outgoing": ("eventing.outbox.publish", "Outgoing"),
    "handler": ("eventing.consumer.registry", "handler"),
    "raw_handler": ("eventing.consumer.registry", "raw_handler"),
    "RetryPolicy": ("eventing.consumer.retry", "RetryPolicy"),
    "Backoff": ("eventing.consumer.retry", "Backoff"),
    "startup": ("eventing.startup", "startup"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        return getattr(importlib.import_module(module_name), attribute)
    raise AttributeError(f"module 'eventing' has no attribute {name!r}")
