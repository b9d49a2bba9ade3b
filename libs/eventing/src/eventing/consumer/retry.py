"""Retry policies (bounded exponential backoff with jitter) and the per-key retry queues.

A :class:`RetryPolicy` says how often, and how far apart, a failing event is tried before it
is dead-lettered. Each handler may carry its own (``@handler(T, retry=RetryPolicy(...))``);
a handler without one uses the consumer's (``CONSUMER_MAX_ATTEMPTS`` and the
``CONSUMER_BACKOFF_*`` settings).

:class:`RetryScheduler` holds back the ordering keys whose head event failed: the later
events of a held key wait behind its head, other keys go on. A held key is retried under the
policy of the handler of its *current* head event (after a head is dead-lettered, the next
event of the key may belong to another handler).

The scheduler's containers are edited in place, never rebound: the runner's rebalance
callbacks (run inside ``consumer.consume()``) forget held keys in the middle of a poll.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from eventing.consumer.processing import ordering_key
from eventing.events import Event

#: The ordering key of an event: (topic, Kafka key).
OrderingKey = tuple[str, str | None]
#: Applies a held key's events; returns how many are finished from the front, and the error
#: of the first one that is not (None when all are).
Attempt = Callable[[list[Event]], tuple[int, BaseException | None]]
Stopping = Callable[[], bool] | None


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``n`` (1-based): ``initial * multiplier**(n-1)``, capped, ±20% jitter."""

    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing event is retried: ``max_attempts`` tries in all, ``backoff`` apart.

    After the last attempt fails the event goes to the dead-letter topic (``max_attempts=1``:
    tried once, never retried).
    """

    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, not {self.max_attempts}")


@dataclass
class HeldKey:
    """Events of one ordering key held back because the first of them failed.

    The head is retried after a backoff; the rest wait behind it so that the key's order
    is kept. Other keys are not affected.
    """

    events: deque[Event] = field(default_factory=deque)
    attempts: int = 0
    due_at: float = 0.0
    last_error: BaseException | None = None

    @property
    def head(self) -> Event:
        return self.events[0]


class RetryScheduler:
    """The held keys: hold a failed head, queue its key's later events, say which are due."""

    def __init__(self, policy_for: Callable[[Event], RetryPolicy], clock: Callable[[], float]) -> None:
        #: The policy under which an event is retried (that of its handler, else the default).
        self.policy_for = policy_for
        self._clock = clock
        # Edited in place only (rebalance callbacks forget keys in the middle of a poll).
        self._held: dict[OrderingKey, HeldKey] = {}

    @property
    def held_count(self) -> int:
        """How many events are held (failed heads and the events waiting behind them)."""
        return sum(len(h.events) for h in self._held.values())

    def get(self, key: OrderingKey) -> HeldKey | None:
        return self._held.get(key)

    def hold(self, event: Event, error: BaseException) -> HeldKey:
        """``event`` failed its first attempt: hold its key until a retry is due."""
        held = HeldKey(events=deque([event]), attempts=1, last_error=error)
        held.due_at = self._clock() + self.policy_for(event).backoff.delay(1)
        self._held[ordering_key(event)] = held
        return held

    def queue_if_held(self, event: Event) -> bool:
        """Put ``event`` behind its key's failed head if the key is held; say whether it was."""
        held = self._held.get(ordering_key(event))
        if held is None:
            return False
        held.events.append(event)  # keep the key's order behind its failed head
        return True

    def defer(self, event: Event) -> None:
        """An earlier event of ``event``'s key failed in the same transaction: wait behind it."""
        self._held[ordering_key(event)].events.append(event)

    def due(self) -> list[tuple[OrderingKey, HeldKey]]:
        """The held keys whose retry is due now (a snapshot: safe to edit the scheduler after)."""
        now = self._clock()
        return [(key, held) for key, held in list(self._held.items()) if held.due_at <= now]

    def next_due(self) -> float | None:
        """When the earliest retry is due (None: nothing held)."""
        return min((h.due_at for h in self._held.values()), default=None)

    def retry_due(
        self, attempt: Attempt, dead_letter: Callable[[HeldKey], None], *, stopping: Stopping = None
    ) -> None:
        """Retry every held key that is due (until ``stopping()`` says the runner stops)."""
        for key, held in self.due():
            if stopping is not None and stopping():
                continue
            self.retry(key, held, attempt, dead_letter)

    def retry(
        self, key: OrderingKey, held: HeldKey, attempt: Attempt, dead_letter: Callable[[HeldKey], None]
    ) -> None:
        """Try a held key's events again, in order, until one fails or none is left.

        ``attempt(events)`` applies the events (one transaction) and returns how many of them,
        from the front, are finished, and the error of the first one that is not. A head with
        no attempt left goes to ``dead_letter(held)`` first (which raises, changing nothing,
        if the dead-letter topic cannot be written), and the next event of the key becomes the
        head with a fresh set of attempts. A head that fails again counts one more attempt; a
        new head (the earlier ones finished) starts at one, under its own handler's policy.
        """
        while held.events:
            if self.exhausted(held):
                dead_letter(held)
                held.events.popleft()
                held.attempts = 0  # the next event of this key gets a fresh set of attempts
                held.last_error = None
                held.due_at = self._clock()
                continue
            head = held.head
            finished, error = attempt(list(held.events))
            for _ in range(finished):
                held.events.popleft()
            if not held.events:
                break
            held.attempts = held.attempts + 1 if held.head is head else 1
            held.last_error = error or held.last_error
            if not self.exhausted(held):
                held.due_at = self._clock() + self.policy_for(held.head).backoff.delay(held.attempts)
                return  # the next attempt is scheduled
        self.release(key)

    def exhausted(self, held: HeldKey) -> bool:
        """The head has had all the attempts its policy allows."""
        return held.attempts >= self.policy_for(held.head).max_attempts

    def release(self, key: OrderingKey) -> None:
        """Nothing of ``key`` is held any more."""
        self._held.pop(key, None)

    def unfinished(self) -> Iterator[tuple[str, int, int]]:
        """(topic, partition, offset) of every held event: never committed past."""
        for held in self._held.values():
            for event in held.events:
                yield event.topic, event.partition, event.offset

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop the held keys of partitions this member no longer owns (in place)."""
        gone = set(partitions)
        for key, held in list(self._held.items()):
            if held.events and (held.head.topic, held.head.partition) in gone:
                del self._held[key]
