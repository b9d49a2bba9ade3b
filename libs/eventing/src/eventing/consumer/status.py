"""The runner's counters, and the cadence of its status reports and inbox purges.

:class:`StatusCadence` is ticked once per loop iteration: every ``status_interval`` seconds it
calls the status reporter (``eventing.consumer.kafka.StatusReporter`` writes the
``eventing_consumer_status`` row) and then the ``on_report`` hooks; every
``inbox_purge_interval`` seconds (0: never) it deletes the group's inbox rows older than
``inbox_retention``. A failing report or purge is logged and never stops the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from eventing.consumer.processing import Outcome
from eventing.events import Event
from eventing.metrics import event_time

logger = logging.getLogger(__name__)


@dataclass
class Counters:
    """Running totals, reported in the consumer status row and in logs."""

    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    retried: int = 0
    dead_lettered: int = 0
    batches: int = 0
    #: Sum of the end-to-end latencies (seconds) of the applied events that had a ce_time, and
    #: how many they were: the status row's recent latency is the mean of an interval's delta.
    latency_seconds: float = 0.0
    latency_events: int = 0

    def count(self, outcome: Outcome, event: Event) -> None:
        """Count a finished event (applied: with its end-to-end latency)."""
        if outcome is Outcome.APPLIED:
            self.applied += 1
            moment = event_time(event)
            if moment is not None:
                self.latency_seconds += max(time.time() - moment.timestamp(), 0.0)
                self.latency_events += 1
        elif outcome is Outcome.DUPLICATE:
            self.duplicates += 1
        elif outcome is Outcome.SKIPPED:
            self.skipped += 1


class StatusCadence:
    """When to report the status and purge the inbox, on the runner's clock."""

    def __init__(
        self,
        group: str,
        clock: Callable[[], float],
        status_interval: float,
        inbox_retention: float,
        inbox_purge_interval: float,
    ) -> None:
        self.group = group
        self.status_interval = status_interval
        self.inbox_retention = inbox_retention
        self.inbox_purge_interval = inbox_purge_interval
        self._clock = clock
        self._next_status = 0.0  # the first tick reports
        self._next_purge = clock() + inbox_purge_interval

    def tick(
        self,
        report: Callable[[], None] | None,
        on_report: Callable[[], None],
        *,
        force: bool = False,
    ) -> None:
        """Report (``report`` then ``on_report``) if due or ``force``; purge the inbox if due."""
        now = self._clock()
        due = force or now >= self._next_status
        if due:
            self._next_status = now + self.status_interval
            if report is not None:
                try:
                    report()
                except Exception as exc:
                    logger.warning("status report failed: %s", exc, extra={"group": self.group})
            on_report()
        if self.inbox_purge_interval > 0 and now >= self._next_purge:
            self._next_purge = now + self.inbox_purge_interval
            from eventing.inbox.purge import purge_inbox

            try:
                purge_inbox(group=self.group, older_than=self.inbox_retention)
            except Exception as exc:
                logger.warning("inbox purge failed: %s", exc, extra={"group": self.group})
