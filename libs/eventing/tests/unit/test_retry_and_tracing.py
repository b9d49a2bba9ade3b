from __future__ import annotations

import random

import pytest

from eventing.consumer.retry import Backoff
from eventing.tracing import child_of, current_traceparent, parse, trace_context

pytestmark = pytest.mark.unit

VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_backoff_grows_exponentially_and_is_capped() -> None:
    backoff = Backoff(initial=1.0, multiplier=2.0, maximum=5.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_jitter_stays_within_bounds() -> None:
    backoff = Backoff(initial=1.0, multiplier=2.0, maximum=30.0, jitter=0.2)
    rng = random.Random(1)
    delays = [backoff.delay(3, rng) for _ in range(200)]
    assert min(delays) >= 3.2 and max(delays) <= 4.8
    assert len(set(delays)) > 1


def test_child_traceparent_keeps_the_trace_and_changes_the_span() -> None:
    child = child_of(VALID)
    assert child is not None
    trace_id, span_id, flags = parse(child)  # type: ignore[misc]
    assert trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert span_id != "b7ad6b7169203331"
    assert flags == "01"


@pytest.mark.parametrize("value", [None, "", "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01"])
def test_invalid_traceparents_are_ignored(value: str | None) -> None:
    assert child_of(value) is None


def test_trace_context_is_current_only_inside_the_block() -> None:
    assert current_traceparent() is None
    with trace_context(VALID):
        inside = current_traceparent()
    assert inside is not None and inside.split("-")[1] == VALID.split("-")[1]
    assert current_traceparent() is None
