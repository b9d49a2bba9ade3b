"""Django middleware that makes an incoming ``traceparent`` header the current trace context."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from eventing.tracing import trace_context


class TraceContextMiddleware:
    """Events published while handling the request carry the caller's trace id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with trace_context(request.headers.get("traceparent")):
            return self.get_response(request)
