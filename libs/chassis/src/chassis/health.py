"""The ``/health/`` view every service serves: runs ``settings.HEALTH_CHECKS``.

A check is a callable taking no arguments (or the dotted path of one) that returns when
healthy and raises an exception saying what is wrong (the event library's checks are in
``eventing.health`` and ``eventing.cdc``). The report names each check after its
``check_name`` attribute, else its function name without ``check_``. ``?only=database,kafka``
runs a subset (a launcher's readiness probe needs the database before a consumer can exist);
an unknown name is a 400. No authentication: probes call it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from eventing.health import check_database

logger = logging.getLogger(__name__)


def check_name(check: Callable[[], object]) -> str:
    """The name a check is reported under."""
    name = getattr(check, "check_name", None)
    if name:
        return str(name)
    function = getattr(check, "func", check)  # functools.partial
    return str(getattr(function, "__name__", repr(check))).removeprefix("check_")


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok", "checks": {...}}`` when every check passes, else 503 with errors.

    ``?only=a,b`` naming a check that is not configured is a 400 listing the valid names (a
    typo in a probe must not turn into a probe that checks nothing).
    """
    configured = [
        import_string(entry) if isinstance(entry, str) else entry
        for entry in getattr(settings, "HEALTH_CHECKS", [check_database])
    ]
    names = [check_name(check) for check in configured]
    only = {n for n in request.GET.get("only", "").split(",") if n}
    unknown = sorted(only - set(names))
    if unknown:
        return JsonResponse(
            {
                "status": "error",
                "errors": {
                    "only": f"unknown check(s): {', '.join(unknown)}; valid checks: {', '.join(names)}"
                },
            },
            status=400,
        )
    checks: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, check in zip(names, configured, strict=True):
        if only and name not in only:
            continue
        try:
            check()
        except Exception as exc:
            logger.warning("health check %s failed", name, exc_info=True, extra={"check": name})
            checks[name] = "error"
            errors[name] = f"{type(exc).__name__}: {exc}".strip()
        else:
            checks[name] = "ok"
    body: dict[str, object] = {"status": "error" if errors else "ok", "checks": checks}
    if errors:
        body["errors"] = errors
    return JsonResponse(body, status=503 if errors else 200)
