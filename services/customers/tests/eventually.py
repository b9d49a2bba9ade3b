from __future__ import annotations

import threading
import time
from collections.abc import Callable

_never_set = threading.Event()


def eventually(assertion: Callable[[], None], *, timeout: float, interval: float = 0.01) -> None:
    """Retry ``assertion`` until it passes; re-raise its failure after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            assertion()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            _never_set.wait(interval)
        else:
            return
