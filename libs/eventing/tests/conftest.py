"""Fixtures shared by the library's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from eventing.serialization.registry import InMemorySchemaRegistry
from eventing.testing import InMemoryBroker, in_memory_registry


@pytest.fixture
def fake_registry() -> Iterator[InMemorySchemaRegistry]:
    """An in-memory schema registry with the owned schemas registered (publish works)."""
    with in_memory_registry() as registry:
        yield registry


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker(partitions=3)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic, group and connector names."""
    return uuid.uuid4().hex[:10]
