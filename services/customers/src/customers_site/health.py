"""``GET /health/``: runs the callables listed in ``settings.HEALTH_CHECKS``.

A check is a callable taking no arguments (or the dotted path of one) that returns
normally when healthy and raises when not. Its name in the report is its ``check_name``
attribute, else its function name without the ``check_`` prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_name(check: Callable[[], object]) -> str:
    name = getattr(check, "check_name", None)
    if name:
        return str(name)
    function = getattr(check, "func", check)  # functools.partial
    return getattr(function, "__name__", repr(check)).removeprefix("check_")


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    errors: dict[str, str] = {}
    for entry in settings.HEALTH_CHECKS:
        check = import_string(entry) if isinstance(entry, str) else entry
        name = _check_name(check)
        try:
            check()
        except Exception as exc:
            logger.warning(
                "health check %s failed", name, exc_info=True, extra={"check": name}
            )
            checks[name] = "error"
            errors[name] = f"{type(exc).__name__}: {exc}".strip()
        else:
            checks[name] = "ok"
    body: dict[str, object] = {"status": "error" if errors else "ok", "checks": checks}
    if errors:
        body["errors"] = errors
    return JsonResponse(body, status=503 if errors else 200)
