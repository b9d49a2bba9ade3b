"""Back-pressure: pause while too many events are held, back off while infrastructure is down.

Above ``max_pending`` held events the member pauses every assigned partition (fetching
stops, the group membership stays); at half of it, it resumes. Partitions assigned while
paused are paused too at the next loop iteration (:meth:`BackPressure.assigned`, called from
the rebalance callback, only marks it: the callback runs inside ``consumer.consume()``).

While the database, the schema registry or the dead-letter topic is unavailable, the loop
waits (:meth:`BackPressure.wait_for_infrastructure`, bounded exponential backoff) without
losing the batch in hand and without leaving the group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from eventing.consumer.retry import Backoff

logger = logging.getLogger(__name__)


class PausablePort(Protocol):
    def pause(self, partitions: list[Any]) -> None: ...
    def resume(self, partitions: list[Any]) -> None: ...
    def assignment(self) -> list[Any]: ...


class BackPressure:
    """Pauses and resumes the consumer's assignment from the number of held events."""

    def __init__(
        self,
        consumer: PausablePort,
        max_pending: int,
        backoff: Backoff,
        wait: Callable[[float], object],
        group: str = "",
    ) -> None:
        self.consumer = consumer
        self.max_pending = max_pending
        self.backoff = backoff
        self.group = group
        self.paused = False
        self._repause = False
        self._wait = wait
        self._infra_failures = 0

    def wait_for_infrastructure(self, exc: BaseException) -> None:
        """Back off (bounded, longer at each failure in a row) before the loop tries again."""
        self._infra_failures += 1
        delay = self.backoff.delay(self._infra_failures)
        logger.warning(
            "infrastructure unavailable (%s: %s); retrying in %.1fs",
            type(exc).__name__,
            exc,
            delay,
            extra={"group": self.group},
        )
        self._wait(delay)

    def infrastructure_up(self) -> None:
        """An iteration went through: the next outage starts at the shortest delay."""
        self._infra_failures = 0

    def assigned(self, partitions: object = None) -> None:
        """Partitions were assigned: if paused, they must not flow while held events pile up."""
        if self.paused:
            self._repause = True

    def apply(self, held: int) -> None:
        """Pause above ``max_pending`` held events, resume at half of it."""
        if self._repause:
            self._repause = False
            if self.paused:
                self.consumer.pause(self.consumer.assignment())
        if not self.paused and held > self.max_pending:
            self.consumer.pause(self.consumer.assignment())
            self.paused = True
            logger.warning("paused: %d events held for retry", held, extra={"group": self.group})
        elif self.paused and held <= self.max_pending // 2:
            self.consumer.resume(self.consumer.assignment())
            self.paused = False
            logger.info("resumed", extra={"group": self.group})
