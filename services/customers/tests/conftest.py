from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from customers import events
from eventing import EventType
from eventing.testing import in_memory_registry
from tests.fakes import PublishedEvent

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient(HTTP_ACCEPT="application/json")


@pytest.fixture
def api(user: Any) -> APIClient:
    """A client sending HTTP basic credentials, like the seed's ``curl -u``."""
    client = APIClient(HTTP_ACCEPT="application/json")
    token = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    return client


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

    def record(event_type: EventType, data: dict[str, Any]) -> None:
        recorded.append(PublishedEvent(event_type.type, dict(data), connection.in_atomic_block))
        real_publish(event_type, data)

    monkeypatch.setattr(events, "publish_customer_event", record)
    return recorded
