"""Logging filters: collapse bursts of repeated warnings and errors into one line.

During a broker outage librdkafka reports every reconnect attempt ("Connect to ipv4#...
failed: Connection refused (after 0ms in state CONNECT)"), about 20 ERROR lines a second per
client. :class:`CollapseRepeats` lets the first line of a kind through, drops its repeats for
``window`` seconds, and appends to the next line let through how many were dropped, so an
outage is still visible (and its end too) without flooding the log.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

_DIGITS = re.compile(r"\d+")


class CollapseRepeats(logging.Filter):
    """Drop records repeating an earlier one (same level and text up to numbers) within ``window``.

    Records below ``level`` always pass. Two records are "the same" when their messages are
    equal once every number is masked (ports, durations, counters vary between retries).
    Thread-safe: librdkafka logs from its poll thread.
    """

    def __init__(
        self,
        window: float = 30.0,
        *,
        level: int = logging.WARNING,
        max_kinds: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window = window
        self.level = level
        self.max_kinds = max_kinds
        self.clock = clock
        self._lock = threading.Lock()
        #: kind -> (time the last record of that kind was let through, repeats dropped since)
        self._seen: dict[tuple[int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        message = record.getMessage()
        kind = (record.levelno, _DIGITS.sub("#", message))
        now = self.clock()
        with self._lock:
            seen = self._seen.get(kind)
            if seen is not None and now - seen[0] < self.window:
                self._seen[kind] = (seen[0], seen[1] + 1)
                return False
            dropped = seen[1] if seen is not None else 0
            self._seen.pop(kind, None)
            if len(self._seen) >= self.max_kinds:
                self._seen.pop(next(iter(self._seen)))
            self._seen[kind] = (now, 0)
        if dropped:
            record.msg = f"{message} ({dropped} similar messages suppressed in the last {self.window:.0f}s)"
            record.args = ()
        return True
