"""Plug-ins around the consumer loop: metrics, tracing, anything that watches events go by.

**The protocol.** :class:`ConsumerMiddlewareProtocol` is the hook interface, a
:class:`typing.Protocol`: a class that defines the six hooks below with these signatures
type-checks as a middleware without inheriting anything. :class:`ConsumerMiddleware` is a
base class with no-op hooks that satisfies the protocol, for a plug-in that needs only some
of them. At run time the runner calls whichever hooks an object has (a missing one is
skipped), in the order of ``EVENTING["CONSUMER_MIDDLEWARE"]`` (dotted paths of classes, each
instantiated once per runner with no arguments), at these points:

* ``before_batch(runner, events, *, retry)`` / ``after_batch(runner, events, result, seconds,
  *, retry)``: around each transaction of the
  :class:`~eventing.consumer.processing.BatchProcessor` (a fresh batch or the retry of a held
  key; ``retry`` says which; ``result`` holds each event's outcome, ``seconds`` the time the
  transaction took);
* ``on_outcome(runner, event, outcome)``: once per event that is finished (applied,
  duplicate, skipped), after its transaction committed;
* ``on_retry(runner, event)``: before a held key is tried again (``event`` is its head);
* ``on_dead_letter(runner, topic, event_type, reason)``: after a message is durably in the
  dead-letter topic (``event_type`` is None for poison that could not be decoded);
* ``on_report(runner)``: at the status interval (``RunnerConfig.status_interval``).

Hooks observe; they cannot change what the runner does. A hook that raises is logged and
ignored, so a broken plug-in never stops or slows consumption beyond its own cost (the
offset invariant of the runner does not depend on them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from django.utils.module_loading import import_string

from eventing.events import Event
from eventing.exceptions import ConfigurationError

if TYPE_CHECKING:
    from eventing.consumer.processing import BatchResult, Outcome
    from eventing.consumer.runner import ConsumerRunner

logger = logging.getLogger(__name__)


@runtime_checkable
class ConsumerMiddlewareProtocol(Protocol):
    """The hooks the runner calls (see the module docstring for when); implement all six."""

    def before_batch(self, runner: ConsumerRunner, events: Sequence[Event], *, retry: bool) -> None: ...

    def after_batch(
        self,
        runner: ConsumerRunner,
        events: Sequence[Event],
        result: BatchResult,
        seconds: float,
        *,
        retry: bool,
    ) -> None: ...

    def on_outcome(self, runner: ConsumerRunner, event: Event, outcome: Outcome) -> None: ...

    def on_retry(self, runner: ConsumerRunner, event: Event) -> None: ...

    def on_dead_letter(
        self, runner: ConsumerRunner, topic: str, event_type: str | None, reason: str
    ) -> None: ...

    def on_report(self, runner: ConsumerRunner) -> None: ...


class ConsumerMiddleware:
    """Base class with no-op hooks (it satisfies the protocol); override the ones needed."""

    def before_batch(self, runner: ConsumerRunner, events: Sequence[Event], *, retry: bool) -> None:
        """A transaction of ``events`` is about to run."""

    def after_batch(
        self,
        runner: ConsumerRunner,
        events: Sequence[Event],
        result: BatchResult,
        seconds: float,
        *,
        retry: bool,
    ) -> None:
        """The transaction ran (committed) in ``seconds``; ``result`` holds each outcome."""

    def on_outcome(self, runner: ConsumerRunner, event: Event, outcome: Outcome) -> None:
        """``event`` is finished: applied, duplicate or skipped."""

    def on_retry(self, runner: ConsumerRunner, event: Event) -> None:
        """The held key whose head is ``event`` is tried again."""

    def on_dead_letter(self, runner: ConsumerRunner, topic: str, event_type: str | None, reason: str) -> None:
        """A message of ``topic`` was written to its dead-letter topic for ``reason``."""

    def on_report(self, runner: ConsumerRunner) -> None:
        """Periodic: the status interval elapsed (gauges such as lag are refreshed here)."""


if TYPE_CHECKING:  # the base class satisfies the protocol (checked by mypy)
    _satisfies: type[ConsumerMiddlewareProtocol] = ConsumerMiddleware


class MiddlewareChain:
    """Calls each middleware's hook in order; a failing hook is logged, never raised."""

    def __init__(self, middleware: Sequence[ConsumerMiddlewareProtocol] | Sequence[Any]) -> None:
        self.middleware = list(middleware)

    def __iter__(self) -> Any:
        return iter(self.middleware)

    def call(self, hook: str, *args: Any, **kwargs: Any) -> None:
        for plugin in self.middleware:
            method = getattr(plugin, hook, None)
            if method is None:
                continue
            try:
                method(*args, **kwargs)
            except Exception as exc:
                logger.warning(
                    "consumer middleware %s.%s failed: %s",
                    type(plugin).__qualname__,
                    hook,
                    exc,
                    exc_info=True,
                )


def load_middleware(paths: Sequence[str]) -> list[Any]:
    """Instantiate the middleware classes named by dotted ``paths`` (the setting)."""
    loaded: list[Any] = []
    for path in paths:
        try:
            factory = import_string(path)
        except ImportError as exc:
            raise ConfigurationError(
                f"EVENTING['CONSUMER_MIDDLEWARE']: cannot import {path!r}: {exc}",
                context={"middleware": path},
            ) from exc
        loaded.append(factory())
    return loaded
