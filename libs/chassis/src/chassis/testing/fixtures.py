"""Fixtures every service's tests use; a service's ``tests/conftest.py`` loads them with::

pytest_plugins = ["chassis.testing.fixtures"]
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

USERNAME = "alice"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """MD5 instead of PBKDF2 while testing: creating users and logging in stay cheap."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_auth_state() -> Iterator[None]:
    """No cached credentials and no failed-login counts carried from one test to the next."""
    from chassis import auth

    auth.reset_state()
    yield
    auth.reset_state()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash computed (``verify`` or ``encode``) by a configured hasher, in order.

    Only outermost calls count: a hasher's ``verify`` that calls its own ``encode`` is one hash.
    """
    calls: list[str] = []
    depth = [0]
    for dotted in django_settings.PASSWORD_HASHERS:
        hasher = import_string(dotted)
        for method in ("verify", "encode"):
            real = getattr(hasher, method)

            def spy(self: Any, *args: Any, _real: Any = real, _method: str = method, **kwargs: Any) -> Any:
                if depth[0] == 0:
                    calls.append(_method)
                depth[0] += 1
                try:
                    return _real(self, *args, **kwargs)
                finally:
                    depth[0] -= 1

            monkeypatch.setattr(hasher, method, spy)
    return calls


@pytest.fixture
def auth_config(settings: Any) -> Any:
    """Set ``CHASSIS_AUTH`` keys for one test: ``auth_config(FAILURE_LIMIT=3)``."""

    def configure(**overrides: Any) -> None:
        settings.CHASSIS_AUTH = {**getattr(settings, "CHASSIS_AUTH", {}), **overrides}

    return configure


@pytest.fixture
def user(django_user_model: Any) -> Any:
    """An ordinary (not staff) user ``USERNAME`` (alice) with the password ``PASSWORD``."""
    return django_user_model.objects.create_user(username=USERNAME, password=PASSWORD)


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
