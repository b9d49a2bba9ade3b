"""Health checks for services, and the ``/health/`` view that runs them.

A check is a callable taking no arguments (or the dotted path of one) that returns when
healthy and raises an exception saying what is wrong. ``settings.HEALTH_CHECKS`` lists the
checks the view runs; its report names each check after its ``check_name`` attribute, else
its function name without ``check_``. ``?only=database,kafka`` runs a subset (a launcher's
readiness probe needs the database before a consumer can exist); an unknown name is a 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from eventing.conf import eventing_settings

logger = logging.getLogger(__name__)


def check_database() -> None:
    """``SELECT 1`` on the default database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_kafka(timeout: float = 3.0) -> None:
    """A metadata request to the brokers answers within ``timeout`` seconds."""
    admin = AdminClient(eventing_settings.kafka_config())
    metadata = admin.list_topics(timeout=timeout)
    if not metadata.brokers:
        raise RuntimeError("Kafka returned no brokers")


def check_schema_registry(timeout: float = 3.0) -> None:
    """The registry's Confluent API answers (``GET /subjects``)."""
    url = str(eventing_settings.SCHEMA_REGISTRY_URL).rstrip("/") + "/subjects"
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()


def check_consumer(group: str, *, max_age: float = 30.0, max_stall: float = 120.0) -> None:
    """A member of ``group`` is alive, and none is stuck.

    Alive: some member reported in within ``max_age`` seconds (rows of members not seen for
    longer are dead processes and ignored; live consumers delete them after
    ``STATUS_ROW_RETENTION``). Stuck: a live member with messages waiting (lag > 0) that
    applied, skipped or dead-lettered nothing for ``max_stall`` seconds, e.g. a handler
    blocked on a lock or a partition paused forever. A member catching up on a backlog
    progresses and stays green.
    """
    from eventing.inbox.models import ConsumerStatus

    now = datetime.now(UTC)
    rows = list(ConsumerStatus.objects.filter(consumer_group=group).order_by("-seen_at"))
    if not rows:
        raise RuntimeError(f"no consumer of group {group} has reported")
    live = [r for r in rows if now - r.seen_at <= timedelta(seconds=max_age)]
    if not live:
        age = now - rows[0].seen_at
        raise RuntimeError(
            f"consumer group {group} last reported {age.total_seconds():.0f}s ago ({rows[0].member})"
        )
    for row in live:
        stalled = now - (row.progressed_at or row.started_at)
        if row.lag and stalled > timedelta(seconds=max_stall):
            raise RuntimeError(
                f"consumer {row.member} is stuck: {row.lag} messages waiting and no progress "
                f"for {stalled.total_seconds():.0f}s (threshold {max_stall:.0f}s)"
            )


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
