"""Fixtures of the end-to-end tests: the whole stack with the three services, and API clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from stack.settings import Settings
from tests.helpers import api


@pytest.fixture(scope="session")
def customers(stack: Settings) -> Iterator[api.Customers]:
    client = api.customers()
    yield client
    client.close()


@pytest.fixture(scope="session")
def orders(stack: Settings) -> Iterator[api.Orders]:
    client = api.orders()
    yield client
    client.close()


@pytest.fixture(scope="session")
def points(stack: Settings) -> Iterator[api.Points]:
    client = api.points()
    yield client
    client.close()


@pytest.fixture(scope="session")
def connect_url(stack: Settings) -> str:
    return stack.connect_url


@pytest.fixture
def connect(connect_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=connect_url, timeout=30.0) as client:
        yield client
