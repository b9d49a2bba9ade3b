"""Helpers for tests that run against the stack: a session fixture body, polling, unique names.

Tests never sleep a fixed time: they poll with :func:`eventually` until a deadline.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

from stack import api
from stack.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

KEEP_UP_VAR = "STACK_KEEP_UP"
"""Set to 1 to leave a stack that the test session started running after the session."""


def eventually(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.2) -> T:
    """Call ``check`` until it returns without raising ``AssertionError``; return its result.

    Re-raises the last ``AssertionError`` when ``timeout`` seconds pass: the assertion message
    then says what was still wrong.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(interval)


def unique_name(prefix: str) -> str:
    """``prefix`` plus a short random suffix: one topic/subject/connector/slot per test.

    Only lower-case letters, digits and ``_``, so the result is also a valid Postgres
    identifier and replication slot name.
    """
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def stack_session() -> Iterator[Settings]:
    """Body of a session fixture: bring the stack up, yield its settings, and afterwards stop
    only the components this session started (unless ``STACK_KEEP_UP=1``).

    A stack that was already up (``make up``) or attached (``*_URL`` variables) is left as is.
    """
    already_up = {status.name for status in api.status() if status.ok}
    api.up()
    try:
        yield Settings.from_env()
    finally:
        started = [c.name for c in api.components() if c.name not in already_up]
        if started and os.environ.get(KEEP_UP_VAR) != "1":
            logger.info("stopping what the test session started: %s", ", ".join(started))
            api.down(started)
