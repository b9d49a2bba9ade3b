"""Trace context: the ``traceparent`` of a request becomes the parent of what it publishes.

``TraceContextMiddleware`` makes the caller's header current while the view runs; events
published then carry a child of it (same trace id, new span id); a request without a valid
header publishes under a new root; nothing leaks to the next request or to another thread.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from eventing.middleware import TraceContextMiddleware
from eventing.tracing import current_traceparent, new_root, parse, trace_context

pytestmark = pytest.mark.unit

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def view_recording(seen: list[str | None]) -> Callable[[HttpRequest], HttpResponse]:
    """A view that records the traceparent an event published now would carry."""

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(current_traceparent())
        return HttpResponse("ok")

    return view


def test_a_request_with_a_traceparent_publishes_in_the_callers_trace() -> None:
    seen: list[str | None] = []
    middleware = TraceContextMiddleware(view_recording(seen))
    response = middleware(RequestFactory().get("/", HTTP_TRACEPARENT=CALLER))
    assert response.status_code == 200
    (published,) = seen
    assert published is not None and TRACEPARENT.match(published)
    trace_id, span_id, flags = parse(published)  # type: ignore[misc]
    assert (trace_id, flags) == (TRACE_ID, "01")
    assert span_id != "00f067aa0ba902b7"  # a child span, not the caller's


def test_each_event_of_a_request_gets_its_own_span() -> None:
    seen: list[str | None] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.extend([current_traceparent(), current_traceparent()])
        return HttpResponse()

    TraceContextMiddleware(view)(RequestFactory().post("/", HTTP_TRACEPARENT=CALLER))
    first, second = (parse(value) for value in seen)
    assert first and second and first[0] == second[0] == TRACE_ID and first[1] != second[1]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "not-a-traceparent",
        f"01-{TRACE_ID}-00f067aa0ba902b7-01",  # an unknown version
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID[:-1]}-00f067aa0ba902b7-01",  # a digit short
    ],
)
def test_a_request_without_a_valid_traceparent_has_no_context(header: str | None) -> None:
    seen: list[str | None] = []
    extra = {} if header is None else {"HTTP_TRACEPARENT": header}
    TraceContextMiddleware(view_recording(seen))(RequestFactory().get("/", **extra))
    assert seen == [None]  # publish() then starts a new root trace


def test_an_upper_case_traceparent_with_spaces_is_accepted() -> None:
    with trace_context(f"  {CALLER.upper()} "):
        published = current_traceparent()
    assert published is not None and parse(published)[0] == TRACE_ID  # type: ignore[index]


def test_the_context_ends_with_the_request_even_when_the_view_raises() -> None:
    def failing(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("view failed")

    with pytest.raises(RuntimeError):
        TraceContextMiddleware(failing)(RequestFactory().get("/", HTTP_TRACEPARENT=CALLER))
    assert current_traceparent() is None


def test_nested_contexts_restore_the_outer_one() -> None:
    other = f"00-{'a' * 32}-{'b' * 16}-00"
    with trace_context(CALLER):
        with trace_context(other):
            assert parse(current_traceparent())[0] == "a" * 32  # type: ignore[index]
        with trace_context("garbage"):  # an invalid inner context clears, it does not inherit
            assert current_traceparent() is None
        assert parse(current_traceparent())[0] == TRACE_ID  # type: ignore[index]


def test_the_context_of_one_thread_is_not_seen_by_another() -> None:
    inside = threading.Event()
    done = threading.Event()
    seen: list[str | None] = []

    def other_thread() -> None:
        inside.wait(timeout=10)
        seen.append(current_traceparent())
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with trace_context(CALLER):
        inside.set()
        assert done.wait(timeout=10)
    thread.join(timeout=10)
    assert seen == [None]


def test_a_new_root_is_a_valid_unsampled_traceparent_with_fresh_ids() -> None:
    roots = {new_root() for _ in range(50)}
    assert len(roots) == 50
    for root in roots:
        parsed = parse(root)
        assert parsed is not None and parsed[2] == "00"
    # ...and a consumer handling an event published under it continues that trace.
    root = roots.pop()
    with trace_context(root):
        assert parse(current_traceparent())[0] == parse(root)[0]  # type: ignore[index]
