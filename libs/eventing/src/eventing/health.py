"""Health checks for services, and the ``/health/`` view that runs them.

A check is a callable taking no arguments (or the dotted path of one) that returns when
healthy and raises an exception saying what is wrong. ``settings.HEALTH_CHECKS`` lists the
checks the view runs; its report names each check after its ``check_name`` attribute, else
its function name without ``check_``. ``?only=database,kafka`` runs a subset (a launcher's
readiness probe needs the database before a consumer can exist).
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


def check_consumer(group: str, *, max_age: float = 30.0) -> None:
    """Some member of ``group`` reported in within ``max_age`` seconds."""
    from eventing.inbox.models import ConsumerStatus

    newest = ConsumerStatus.objects.filter(consumer_group=group).order_by("-seen_at").first()
    if newest is None:
        raise RuntimeError(f"no consumer of group {group} has reported")
    age = datetime.now(UTC) - newest.seen_at
    if age > timedelta(seconds=max_age):
        raise RuntimeError(
            f"consumer group {group} last reported {age.total_seconds():.0f}s ago ({newest.member})"
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
    """200 ``{"status": "ok", "checks": {...}}`` when every check passes, else 503 with errors."""
    only = {n for n in request.GET.get("only", "").split(",") if n}
    checks: dict[str, str] = {}
    errors: dict[str, str] = {}
    for entry in getattr(settings, "HEALTH_CHECKS", [check_database]):
        check = import_string(entry) if isinstance(entry, str) else entry
        name = check_name(check)
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
