"""Fixtures every service's tests use; a service's ``tests/conftest.py`` loads them with::

pytest_plugins = ["chassis.testing.fixtures"]
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """MD5 instead of PBKDF2 while testing: creating users and logging in stay cheap."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(django_user_model: Any) -> Any:
    """An ordinary (not staff) user ``alice`` with the password ``PASSWORD``."""
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def anonymous_api() -> APIClient:
    """A client without credentials that asks for JSON."""
    return APIClient(HTTP_ACCEPT="application/json")


@pytest.fixture
def api(user: Any) -> APIClient:
    """A client sending HTTP basic credentials, like the seed's ``curl -u``."""
    client = APIClient(HTTP_ACCEPT="application/json")
    token = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    return client
