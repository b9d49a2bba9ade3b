from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from django.db import connection

from customers import events
from event_contracts import CustomerEntityState
from eventing import EventType
from eventing.testing import in_memory_registry
from tests.fakes import PublishedEvent

# API clients (``api``, ``anonymous_api``), the ``user`` behind ``api``, fast password hashing.
pytest_plugins = ["chassis.testing.fixtures"]


@pytest.fixture(autouse=True)
def _schemas() -> Iterator[None]:
    """Schema ids resolved in an in-memory registry, so the real ``publish`` runs."""
    with in_memory_registry():
        yield


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[PublishedEvent]:
    """Events handed to the publish hook, and whether a transaction was open.

    A spy: each event still goes through the real ``eventing.publish`` into the outbox.
    """
    recorded: list[PublishedEvent] = []
    real_publish = events.publish_customer_event

    def record(event_type: EventType[CustomerEntityState], data: CustomerEntityState) -> None:
        recorded.append(PublishedEvent(event_type.type, dataclasses.asdict(data), connection.in_atomic_block))
        real_publish(event_type, data)

    monkeypatch.setattr(events, "publish_customer_event", record)
    return recorded
