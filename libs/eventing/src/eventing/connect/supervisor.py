"""Connector supervision: restart FAILED or stuck tasks with bounded backoff, give up loudly.

Kafka Connect does not restart a FAILED task by itself. A task fails for reasons that pass:
the schema registry was down when the Avro converter needed it, the database restarted, the
broker stalled. :class:`ConnectorSupervisor` polls each connector's status and

* restarts a FAILED connector or task (``POST /connectors/{name}/restart?includeTasks=true&
  onlyFailed=true``), after an exponential backoff per connector;
* restarts a connector whose connector or tasks stay UNASSIGNED (or that has no tasks) longer
  than ``grace`` seconds;
* creates a connector that is missing (connectors as code);
* logs every restart with the task's trace, and after ``max_restarts`` in one episode gives
  up: an ERROR log, and a ``gave_up`` row that turns the ``cdc`` health check red;
* never restarts a task that failed because its replication slot is lost: restarting cannot
  help and resetting would lose events; it gives up at once, naming ``eventing_cdc recover``.

An episode ends once the connector has run for ``stable`` seconds; the next failure starts
with fresh attempts. A connector it gave up on that runs again (fixed by hand) is no longer
given up. ``manage.py eventing_connectors supervise`` runs it until SIGTERM.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventing.connect.client import ConnectClient
from eventing.connect.debezium import Connector
from eventing.consumer.retry import Backoff
from eventing.exceptions import ConnectorError

logger = logging.getLogger(__name__)


@dataclass
class _Episode:
    restarts: int = 0
    total_restarts: int = 0
    next_at: float = 0.0
    unhealthy_since: float | None = None
    healthy_since: float | None = None
    gave_up: bool = False
    last_error: str = ""
    last_restart_at: datetime | None = None


def problem_of(status: dict[str, Any]) -> tuple[str, str] | None:
    """``("failed", trace)``, ``("unassigned", what)`` or None when it and its tasks run."""
    connector = status.get("connector", {})
    tasks = status.get("tasks", [])
    failed = [t for t in tasks if t.get("state") == "FAILED"]
    if connector.get("state") == "FAILED" or failed:
        return "failed", str((failed[0] if failed else connector).get("trace") or "no trace")
    if connector.get("state") == "STOPPED" or connector.get("state") == "PAUSED":
        return None  # stopped or paused on purpose (e.g. by eventing_cdc recover)
    if connector.get("state") == "UNASSIGNED" or any(t.get("state") == "UNASSIGNED" for t in tasks):
        return "unassigned", "connector or task UNASSIGNED"
    if not tasks:
        return "unassigned", "no tasks"
    return None


class ConnectorSupervisor:
    def __init__(
        self,
        client: ConnectClient,
        connectors: Sequence[Connector],
        *,
        max_restarts: int = 8,
        backoff: Backoff | None = None,
        grace: float = 15.0,
        stable: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        slot_lost: Callable[[Connector], bool] | None = None,
        record: Callable[[str, _Episode, str], None] | None = None,
    ) -> None:
        self.client = client
        self.connectors = list(connectors)
        self.max_restarts = max_restarts
        self.backoff = backoff or Backoff(initial=2.0, multiplier=2.0, maximum=60.0, jitter=0.1)
        self.grace = grace
        self.stable = stable
        self.clock = clock
        self.slot_lost = slot_lost
        self.record = record
        self.episodes: dict[str, _Episode] = {c.name: _Episode() for c in self.connectors}

    def check_once(self) -> None:
        """One look at every connector; restart what needs it and is due."""
        for connector in self.connectors:
            try:
                self._check(connector)
            except ConnectorError as exc:
                logger.warning("connector supervision: %s", exc, extra={"connector": connector.name})

    def run(self, stop: threading.Event, *, interval: float = 5.0) -> None:
        logger.info("connector supervisor started", extra={"connectors": [c.name for c in self.connectors]})
        while not stop.is_set():
            self.check_once()
            stop.wait(interval)

    def _check(self, connector: Connector) -> None:
        name = connector.name
        episode = self.episodes[name]
        now = self.clock()
        status = self.client.status(name)
        if status is None:
            logger.warning("connector %s is missing: creating it", name, extra={"connector": name})
            self.client.apply(connector)
            self._record(name, episode, "restarting")
            return
        problem = problem_of(status)
        if problem is None:
            episode.unhealthy_since = None
            if episode.healthy_since is None:
                episode.healthy_since = now
            if episode.gave_up:  # fixed by hand (e.g. eventing_cdc recover): no longer given up
                logger.info("connector %s runs again", name, extra={"connector": name})
                episode.gave_up = False
            if episode.restarts and now - episode.healthy_since >= self.stable:
                episode.restarts, episode.last_error = 0, ""
            self._record(name, episode, "running" if not episode.restarts else "restarting")
            return
        kind, detail = problem
        episode.healthy_since = None
        if episode.unhealthy_since is None:
            episode.unhealthy_since = now
        if episode.gave_up:
            self._record(name, episode, "gave_up")  # keeps the reason it gave up for
            return
        episode.last_error = detail[:4000]
        if kind == "failed" and self.slot_lost is not None and self.slot_lost(connector):
            self._give_up(
                name, episode, f"its replication slot is lost: run `manage.py eventing_cdc recover {name}`"
            )
            return
        if kind == "unassigned" and now - episode.unhealthy_since < self.grace:
            return
        if now < episode.next_at:
            return
        if episode.restarts >= self.max_restarts:
            self._give_up(name, episode, f"{episode.restarts} restarts did not help")
            return
        episode.restarts += 1
        episode.total_restarts += 1
        episode.last_restart_at = datetime.now(UTC)
        episode.next_at = now + self.backoff.delay(episode.restarts)
        logger.warning(
            "restarting connector %s (%s; attempt %d of %d): %s",
            name,
            kind,
            episode.restarts,
            self.max_restarts,
            detail,
            extra={"connector": name, "attempt": episode.restarts},
        )
        self.client.restart(name, include_tasks=True, only_failed=kind == "failed")
        _count_restart(name)
        self._record(name, episode, "restarting")

    def _give_up(self, name: str, episode: _Episode, why: str) -> None:
        episode.gave_up = True
        logger.error(
            "connector supervision gave up on %s: %s. Last error: %s",
            name,
            why,
            episode.last_error,
            extra={"connector": name, "restarts": episode.restarts},
        )
        episode.last_error = f"{why}. Last error: {episode.last_error}"[:4000]
        self._record(name, episode, "gave_up")

    def _record(self, name: str, episode: _Episode, state: str) -> None:
        if self.record is not None:
            self.record(name, episode, state)


def record_supervision(name: str, episode: _Episode, state: str) -> None:
    """Upsert the connector's supervision row (read by ``eventing.cdc``)."""
    from eventing.connect.models import ConnectorSupervision

    ConnectorSupervision.objects.update_or_create(
        connector=name,
        defaults={
            "state": state,
            "restarts": episode.restarts,
            "total_restarts": episode.total_restarts,
            "last_restart_at": episode.last_restart_at,
            "last_error": episode.last_error,
            "pid": os.getpid(),
            "seen_at": datetime.now(UTC),
        },
    )


def _count_restart(name: str) -> None:
    """``eventing_connector_restarts_total`` (task "": the connector with its tasks)."""
    from eventing.metrics import CONNECTOR_RESTARTS

    CONNECTOR_RESTARTS.labels(name, "").inc()
