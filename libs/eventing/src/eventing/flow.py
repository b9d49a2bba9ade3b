"""The live flow page: this service's part of the event flow, refreshed every two seconds.

``GET /eventing/flow/`` (mounted by the chassis in every service) renders, server side:

* **connectors**: the Kafka Connect connectors of ``EVENTING["CONNECTORS"]``, their tasks and
  states (:class:`~eventing.connect.client.ConnectClient`), and the CDC doctor's findings
  about each (:func:`eventing.cdc.inspect`: a lost slot, a supervisor that gave up);
* **topics** with their start and end offsets: what the service publishes (owned event
  types), what its handlers consume, and the dead-letter topics of its groups;
* **consumer groups** with the lag of each partition (end offset minus committed offset;
  a partition without a commit lags by everything still in the log);
* **dead letters**: messages in each dead-letter topic (end minus start offset);
* **recent end-to-end latency**: what each consumer member last wrote to its status row
  (``ConsumerStatus.latency``: the mean over the last status interval that applied events).

The page polls ``GET /eventing/flow/data/`` (the same snapshot as JSON) and redraws its
tables in place; nothing is loaded from outside the service. A source that fails (Connect or
Kafka down, the database unreachable) turns its sections into an error message, never a
500. Every number has a stable element id (``topic-end-<topic>``, ``group-lag-<group>``,
``dlt-count-<topic>``...) and its value in ``data-value``.

Access: staff users only (``is_staff``), through the Django admin's login (the page redirects
there; the JSON endpoint answers 403).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from eventing.conf import eventing_settings

if TYPE_CHECKING:
    # Not at run time: the chassis' URLconf imports the views, and must not load the models.
    from eventing.connect.debezium import Connector

logger = logging.getLogger(__name__)

#: Seconds between two refreshes of the page.
REFRESH_SECONDS = 2.0
#: Seconds a status row may be old and its member still count as live.
LIVE_SECONDS = 30.0

Section = dict[str, Any]
"""``{"error": str | None, "items": [...]}``: one part of the page."""


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _section(items: list[dict[str, Any]] | None = None, error: str | None = None) -> Section:
    return {"error": error, "items": items or []}


# -- Kafka connect ----------------------------------------------------------------------------


def _first_line(trace: str | None) -> str:
    text = (trace or "").strip()
    return text.splitlines()[0][:300] if text else ""


def connectors_section(
    connectors: Iterable[Connector],
    client: Any,
    *,
    findings: Callable[[Connector], list[Any]] | None = None,
) -> Section:
    """Each connector's state, its tasks' states, and (``findings``) what the doctor says."""
    items: list[dict[str, Any]] = []
    try:
        for connector in connectors:
            status = client.status(connector.name)
            item: dict[str, Any] = {
                "name": connector.name,
                "state": "MISSING" if status is None else status["connector"]["state"],
                "worker": None if status is None else status["connector"].get("worker_id"),
                "tasks": [
                    {
                        "id": task.get("id"),
                        "state": task.get("state"),
                        "worker": task.get("worker_id"),
                        "trace": _first_line(task.get("trace")),
                    }
                    for task in ([] if status is None else status.get("tasks", []))
                ],
                "findings": [],
            }
            if findings is not None:
                try:
                    item["findings"] = [
                        {"id": f.id, "severity": f.severity, "message": f.message}
                        for f in findings(connector)
                    ]
                except Exception as exc:  # the doctor is extra information: say why it is missing
                    item["findings"] = [{"id": "-", "severity": "error", "message": _error(exc)}]
            items.append(item)
    except Exception as exc:  # unreachable, or an error status (e.g. a 500 while it rebalances)
        return _section(error=f"Kafka Connect: {_error(exc)}")
    return _section(items)


# -- Kafka --------------------------------------------------------------------------------------


class KafkaView(Protocol):
    """What the page reads from Kafka (the admin API; a fake in unit tests)."""

    def topics(self) -> dict[str, list[int]]:
        """Every topic's partitions."""

    def watermarks(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
        """(start, end) offsets of each partition."""

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        """The group's committed offsets (partitions without a commit left out)."""

    def members(self, group: str) -> int:
        """How many members the group has now."""


class AdminKafkaView:
    """:class:`KafkaView` over ``confluent_kafka``'s AdminClient (reused between requests)."""

    def __init__(self, config: dict[str, Any], *, timeout: float = 3.0) -> None:
        self.admin = _admin_client(tuple(sorted((k, str(v)) for k, v in config.items())))
        self.timeout = timeout

    def topics(self) -> dict[str, list[int]]:
        metadata = self.admin.list_topics(timeout=self.timeout)
        return {name: sorted(topic.partitions) for name, topic in metadata.topics.items()}

    def watermarks(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]

        from eventing.offsets import _list_offsets

        if not partitions:
            return {}
        wanted = [TopicPartition(t, p) for t, p in partitions]
        earliest = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        low = _list_offsets(self.admin, wanted, earliest, self.timeout)
        high = _list_offsets(self.admin, wanted, latest, self.timeout)
        return {key: (low[key], high[key]) for key in high}

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        from eventing.offsets import committed_offsets

        return committed_offsets(self.admin, group, timeout=self.timeout)

    def members(self, group: str) -> int:
        from eventing.offsets import active_members

        return len(active_members(self.admin, group, timeout=self.timeout))


@cache
def _admin_client(config: tuple[tuple[str, str], ...]) -> Any:
    """One AdminClient per configuration and process; its log goes through Python logging."""
    from confluent_kafka.admin import AdminClient

    from eventing.consumer.kafka import kafka_logger

    return AdminClient(dict(config), logger=kafka_logger)


@dataclass(frozen=True)
class ServiceFlow:
    """The topics and groups this service takes part in (from its settings and code)."""

    published: list[str]
    consumed: list[str]
    #: Each consumer group and the topics its handlers read.
    groups: dict[str, list[str]]
    dead_letter_template: str


def kafka_sections(flow: ServiceFlow, kafka: KafkaView) -> dict[str, Section]:
    """The ``topics``, ``groups`` and ``dead_letters`` sections (one error for all if Kafka fails)."""
    from eventing.redrive.dead_letters import dead_letter_topics

    try:
        existing = kafka.topics()
        dead = {
            group: dead_letter_topics(group, existing, flow.dead_letter_template) for group in flow.groups
        }
        roles: dict[str, str] = {}
        for topic in flow.published:
            roles[topic] = "publishes"
        for topic in flow.consumed:
            roles[topic] = "publishes, consumes" if topic in roles else "consumes"
        for topics in dead.values():
            for topic in topics:
                roles.setdefault(topic, "dead letters")
        committed = {group: kafka.committed(group) for group in flow.groups}
        group_topics = {
            group: sorted(set(topics) | {t for t, _ in committed[group]} & set(existing))
            for group, topics in flow.groups.items()
        }
        wanted = sorted(set(roles) | {t for topics in group_topics.values() for t in topics})
        partitions = [(t, p) for t in wanted if t in existing for p in existing[t]]
        marks = kafka.watermarks(partitions)
        topics_items = [_topic_item(t, roles.get(t, "consumes"), existing.get(t), marks) for t in wanted]
        groups_items = [
            _group_item(group, group_topics[group], existing, marks, committed[group], kafka.members(group))
            for group in flow.groups
        ]
        dead_items = [
            {
                "group": group,
                "topic": topic,
                "count": sum(marks[(topic, p)][1] - marks[(topic, p)][0] for p in existing[topic]),
                "id": f"dlt-count-{topic}",
            }
            for group, topics in dead.items()
            for topic in topics
        ]
    except Exception as exc:  # Kafka down or refusing: the page says so
        logger.warning("flow page: Kafka unavailable: %s", exc)
        error = f"Kafka: {_error(exc)}"
        return {name: _section(error=error) for name in ("topics", "groups", "dead_letters")}
    return {
        "topics": _section(topics_items),
        "groups": _section(groups_items),
        "dead_letters": _section(dead_items),
    }


def _topic_item(
    topic: str, role: str, partitions: list[int] | None, marks: dict[tuple[str, int], tuple[int, int]]
) -> dict[str, Any]:
    rows = [
        {"partition": p, "start": marks[(topic, p)][0], "end": marks[(topic, p)][1]} for p in partitions or []
    ]
    return {
        "topic": topic,
        "role": role,
        "exists": partitions is not None,
        "partitions": rows,
        "start": sum(r["start"] for r in rows),
        "end": sum(r["end"] for r in rows),
        "id": f"topic-end-{topic}",
    }


def _group_item(
    group: str,
    topics: list[str],
    existing: dict[str, list[int]],
    marks: dict[tuple[str, int], tuple[int, int]],
    committed: dict[tuple[str, int], int],
    members: int,
) -> dict[str, Any]:
    rows = []
    for topic in topics:
        for partition in existing.get(topic, []):
            start, end = marks[(topic, partition)]
            offset = committed.get((topic, partition))
            rows.append(
                {
                    "topic": topic,
                    "partition": partition,
                    "committed": offset,
                    "end": end,
                    # No commit yet: the group starts from the earliest offset still in the log.
                    "lag": max(0, end - max(offset if offset is not None else start, start)),
                    "id": f"group-lag-{group}-{topic}-{partition}",
                }
            )
    return {
        "group": group,
        "members": members,
        "lag": sum(r["lag"] for r in rows),
        "partitions": rows,
        "id": f"group-lag-{group}",
    }


# -- status rows ------------------------------------------------------------------------------


def latency_section(now: datetime | None = None) -> Section:
    """The consumer members' status rows: liveness, lag, recent end-to-end latency."""
    from eventing.inbox.models import ConsumerStatus

    now = now or datetime.now(UTC)
    try:
        rows = list(ConsumerStatus.objects.order_by("consumer_group", "member"))
    except Exception as exc:
        return _section(error=f"database: {_error(exc)}")
    return _section(
        [
            {
                "member": row.member,
                "group": row.consumer_group,
                "live": now - row.seen_at <= timedelta(seconds=LIVE_SECONDS),
                "seen_at": row.seen_at.isoformat(),
                "lag": row.lag,
                "applied": row.applied,
                "dead_lettered": row.dead_lettered,
                "latency_ms": None if row.latency is None else round(row.latency * 1000, 1),
                "latency_at": row.latency_at.isoformat() if row.latency_at else None,
                "id": f"latency-{row.member}",
            }
            for row in rows
        ]
    )


# -- the whole page ---------------------------------------------------------------------------


def service_flow(status_groups: Iterable[str] = ()) -> ServiceFlow:
    """This service's topics and groups: owned event types, handlers, configured groups.

    Groups: ``EVENTING["CONSUMER_GROUPS"]``, those named by handlers, and those with a status
    row in this database (consumers that ran recently).
    """
    from eventing.consumer.registry import registry
    from eventing.events import catalog

    names = [
        *eventing_settings.CONSUMER_GROUPS,
        *(h.group for h in registry.all() if h.group),
        *status_groups,
    ]
    groups = {name: registry.for_group(name).topics() for name in dict.fromkeys(names)}
    return ServiceFlow(
        published=sorted({et.topic for et in catalog.owned()}),
        consumed=registry.topics(),
        groups=groups,
        dead_letter_template=str(eventing_settings.DEAD_LETTER_TOPIC),
    )


def snapshot(*, kafka: KafkaView | None = None, connect: Any = None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (each section with its own error)."""
    from eventing.cdc import inspect
    from eventing.connect.client import ConnectClient
    from eventing.management.commands.eventing_connectors import configured_connectors

    client = connect or ConnectClient(eventing_settings.CONNECT_URL, timeout=3.0)
    try:
        try:
            connectors = configured_connectors()
        except Exception as exc:
            connectors_part = _section(error=f"connector definitions: {_error(exc)}")
        else:
            connectors_part = connectors_section(
                connectors, client, findings=lambda connector: inspect(connector, client)
            )
    finally:
        if connect is None:
            client.close()
    latency = latency_section()
    flow = service_flow(item["group"] for item in latency["items"])
    try:
        kafka = kafka or AdminKafkaView(eventing_settings.kafka_config())
    except Exception as exc:
        error = f"Kafka: {_error(exc)}"
        kafka_part = {name: _section(error=error) for name in ("topics", "groups", "dead_letters")}
    else:
        kafka_part = kafka_sections(flow, kafka)
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "connectors": connectors_part,
        **kafka_part,
        "latency": latency,
    }


@never_cache
@require_safe
@staff_member_required
def flow_page(request: HttpRequest) -> HttpResponse:
    """The page, rendered with a first snapshot; its script redraws it from :func:`flow_data`."""
    from django.conf import settings

    return render(
        request,
        "eventing/flow.html",
        {
            "flow": snapshot(),
            "service": getattr(settings, "SERVICE_NAME", ""),
            "data_url": reverse("eventing-flow-data"),
            "refresh_ms": int(REFRESH_SECONDS * 1000),
        },
    )


@never_cache
@require_safe
def flow_data(request: HttpRequest) -> JsonResponse:
    """The snapshot as JSON, for staff (403 otherwise: a script cannot follow a login redirect)."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return JsonResponse({"error": "staff only: log in at the admin first"}, status=403)
    return JsonResponse(snapshot())
