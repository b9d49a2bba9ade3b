"""W3C trace context (``traceparent``) propagated through the outbox and the consumers.

A request's ``traceparent`` header (see :class:`eventing.middleware.TraceContextMiddleware`)
or the event being handled sets the current context; ``publish()`` writes a child
``traceparent`` into the outbox row, Debezium carries it as a Kafka header, and the consumer
makes it current again while the handler runs. If OpenTelemetry is installed and a span is
active, its context wins. An event published with no context at all starts a new trace
(:func:`new_root`), so every event carries a valid ``traceparent`` header: a header without
a value breaks clients such as the CloudEvents SDK 2.x, which decodes every header.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Iterator
from contextvars import ContextVar

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_current: ContextVar[str | None] = ContextVar("eventing_traceparent", default=None)


def parse(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent id, flags) of a valid version-00 traceparent, else None."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2), match.group(3)


def child_of(value: str | None) -> str | None:
    """A traceparent for a new span in the same trace as ``value`` (None if invalid)."""
    parsed = parse(value)
    if parsed is None:
        return None
    trace_id, _, flags = parsed
    return f"00-{trace_id}-{_random_hex(64)}-{flags}"


def _random_hex(bits: int) -> str:
    """``bits`` random bits as lower-case hex, never all zeros (an invalid W3C id).

    Trace and span ids need uniqueness, not secrecy: like OpenTelemetry's SDK, this uses
    ``random`` (reseeded in each forked worker), which costs ~0.3 us where ``secrets`` makes a
    system call per id (``new_root`` runs for every event published with no context).
    """
    while True:
        value = random.getrandbits(bits)
        if value:
            return f"{value:0{bits // 4}x}"


try:  # resolved once: a failing import on every publish would cost ~80 us each time
    from opentelemetry import propagate as _otel_propagate  # type: ignore[import-not-found]
except ImportError:
    _otel_propagate = None


def _from_opentelemetry() -> str | None:
    if _otel_propagate is None:
        return None
    carrier: dict[str, str] = {}
    _otel_propagate.inject(carrier)
    return carrier.get("traceparent")


def new_root() -> str:
    """A traceparent that starts a new trace (random ids, not sampled: nothing recorded it)."""
    while True:
        ids = f"{random.getrandbits(192):048x}"  # one call for both ids
        if ids[:32] != _ZERO_TRACE and ids[32:] != _ZERO_SPAN:
            return f"00-{ids[:32]}-{ids[32:]}-00"


def current_traceparent() -> str | None:
    """The traceparent to attach to an event published now, or None."""
    return _from_opentelemetry() or child_of(_current.get())


@contextlib.contextmanager
def trace_context(traceparent: str | None) -> Iterator[None]:
    """Make ``traceparent`` the current trace context inside the block (if valid)."""
    token = _current.set(traceparent if parse(traceparent) else None)
    try:
        yield
    finally:
        _current.reset(token)
