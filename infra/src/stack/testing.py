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


def residue(settings: Settings, token: str) -> dict[str, list[str]]:
    """Kafka topics, consumer groups and registry subjects whose names contain ``token``.

    Tests name what they create with :func:`unique_name`, so a common prefix finds it all: the
    topics a Debezium connector made (its heartbeat topic too), the groups of the readers,
    the ``<topic>-value`` subjects the converters and serializers registered.
    """
    import httpx
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    with httpx.Client(base_url=settings.schema_registry_url.rstrip("/"), timeout=30) as registry:
        subjects = registry.get("/subjects").raise_for_status().json()
    return {
        "topics": sorted(t for t in admin.list_topics(timeout=30).topics if token in t),
        "groups": sorted(
            g.group_id for g in admin.list_consumer_groups().result(timeout=30).valid if token in g.group_id
        ),
        "subjects": sorted(s for s in subjects if token in s),
    }


def remove_residue(settings: Settings, token: str) -> None:
    """Delete what :func:`residue` finds for ``token`` (subjects for good: soft, then hard)."""
    import httpx
    from confluent_kafka.admin import AdminClient

    found = residue(settings, token)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    if found["topics"]:
        for future in admin.delete_topics(found["topics"], operation_timeout=30).values():
            future.exception(timeout=30)  # already gone is fine
    if found["groups"]:
        for future in admin.delete_consumer_groups(found["groups"]).values():
            future.exception(timeout=30)
    with httpx.Client(base_url=settings.schema_registry_url.rstrip("/"), timeout=30) as registry:
        for subject in found["subjects"]:
            registry.delete(f"/subjects/{subject}")
            registry.delete(f"/subjects/{subject}", params={"permanent": "true"})
