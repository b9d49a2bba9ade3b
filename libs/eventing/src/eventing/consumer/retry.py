"""Bounded exponential backoff with jitter, and the per-key retry queues."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from eventing.events import Event


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
