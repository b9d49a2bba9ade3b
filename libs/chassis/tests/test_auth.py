"""chassis.auth without a database: the bounded cache, credential keys, the failure limiter,
the settings and their system checks."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from chassis.auth import (
    AuthSettings,
    CachedBasicAuthentication,
    CredentialCache,
    FailureLimiter,
    TTLCache,
    auth_settings,
    credential_cache,
    failure_limiter,
    reset_state,
)
from chassis.checks import check_auth_settings
from chassis.settings import auth_settings_from_env, service_settings

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    reset_state()
    yield
    reset_state()


def test_ttl_cache_evicts_the_least_recently_used_beyond_its_size() -> None:
    cache: TTLCache[str, int] = TTLCache(max_entries=2, ttl=60)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used

    cache.set("c", 3)

    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert len(cache) == 2


def test_ttl_cache_entries_expire() -> None:
    clock = Clock()
    cache: TTLCache[str, int] = TTLCache(max_entries=10, ttl=5, clock=clock)
    cache.set("a", 1)

    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_zero_ttl_or_size_caches_nothing() -> None:
    for cache in (TTLCache[str, int](max_entries=0, ttl=5), TTLCache[str, int](max_entries=5, ttl=0)):
        cache.set("a", 1)
        assert cache.get("a") is None


def test_credential_keys_are_keyed_hashes_that_differ_per_process() -> None:
    one = CredentialCache(max_entries=10, credential_ttl=60, user_ttl=1)
    other = CredentialCache(max_entries=10, credential_ttl=60, user_ttl=1)

    key = one.key("alice", "s3cret")

    assert key == one.key("alice", "s3cret")
    assert len(key) == 32
    assert b"s3cret" not in key
    assert key != other.key("alice", "s3cret")  # another process (worker) has another key
    assert key != one.key("alice", "s3cret ")
    # The split between username and password is part of the key.
    assert one.key("a:b", "c") != one.key("a", "b:c")


def test_the_limiter_locks_after_the_limit_and_releases_after_the_window() -> None:

    limiter = FailureLimiter(
        limit=2, window=2, scopes=frozenset({"username", "ip"}), cache_alias="auth-failures"
    )
    limiter.record_failure("alice", "10.0.0.1")
    assert limiter.retry_after("alice", "10.0.0.1") is None

    limiter.record_failure("alice", "10.0.0.1")

    assert limiter.retry_after("alice", "10.0.0.1") in {1, 2}
    assert limiter.retry_after("alice", "10.0.0.2") in {1, 2}  # by username
    assert limiter.retry_after("bob", "10.0.0.1") in {1, 2}  # by address
    assert limiter.retry_after("bob", "10.0.0.2") is None
    deadline = time.monotonic() + 10  # polled, not slept: the window is 2 s
    while limiter.retry_after("alice", "10.0.0.1") is not None:
        assert time.monotonic() < deadline, "the lockout did not end with its window"
        threading.Event().wait(0.05)


def test_the_limiter_counts_only_its_scopes_and_can_be_off() -> None:
    by_ip = FailureLimiter(limit=1, window=60, scopes=frozenset({"ip"}), cache_alias="auth-failures")
    by_ip.record_failure("alice", "10.0.0.1")
    assert by_ip.retry_after("alice", "10.0.0.2") is None
    assert by_ip.retry_after("bob", "10.0.0.1") == 60

    off = FailureLimiter(limit=0, window=60, scopes=frozenset({"ip"}), cache_alias="auth-failures")
    off.record_failure("carol", "10.0.0.3")
    assert off.retry_after("carol", "10.0.0.3") is None


def test_the_failure_counters_hold_no_usernames() -> None:
    limiter = FailureLimiter(limit=5, window=60, scopes=frozenset({"username"}), cache_alias="auth-failures")
    limiter.record_failure("correct horse battery staple", "10.0.0.1")

    keys = list(caches["auth-failures"]._cache)  # type: ignore[attr-defined]

    assert keys
    assert not any("horse" in key for key in keys)


def test_settings_follow_chassis_auth_and_reload_when_it_changes(settings: Any) -> None:
    settings.CHASSIS_AUTH = {"USER_TTL": 0, "FAILURE_LIMIT": 3}
    assert auth_settings().user_ttl == 0
    assert failure_limiter().limit == 3
    first = credential_cache()

    settings.CHASSIS_AUTH = {"CREDENTIAL_TTL": 7}

    assert credential_cache() is not first
    assert credential_cache().verified.ttl == 7
    assert failure_limiter().limit == 10  # the default again


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"CREDENTAIL_TTL": 5}, "unknown CHASSIS_AUTH keys: CREDENTAIL_TTL"),
        ({"USER_TTL": -1}, "USER_TTL"),
        ({"FAILURE_LIMIT": "ten"}, "FAILURE_LIMIT"),
        ({"FAILURE_SCOPES": ["user"]}, "FAILURE_SCOPES"),
        ({"FAILURE_WINDOW": 0}, "FAILURE_WINDOW"),
    ],
)
def test_malformed_settings_fail_the_system_check(
    settings: Any, config: dict[str, Any], message: str
) -> None:
    settings.CHASSIS_AUTH = config

    errors = check_auth_settings()

    assert [error.id for error in errors] == ["chassis.E001"]
    assert message in errors[0].msg
    with pytest.raises(ValueError, match=message):
        AuthSettings.from_mapping(config)


def test_a_missing_failure_cache_fails_the_system_check(settings: Any) -> None:
    settings.CHASSIS_AUTH = {"FAILURE_CACHE": "nope"}

    errors = check_auth_settings()

    assert [error.id for error in errors] == ["chassis.E002"]
    assert "'nope'" in errors[0].msg


def test_the_service_settings_wire_the_auth_classes_and_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTH_CREDENTIAL_CACHE", "AUTH_USER_TTL", "AUTH_FAILURE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTH_USER_TTL", "0")
    built = service_settings(
        service="shop",
        app="shop",
        base_dir=Path("/repo/services/shop"),
        database="shopdb",
        api_title="Shop API",
        api_description="Things.",
    )

    classes = built["REST_FRAMEWORK"]["DEFAULT_AUTHENTICATION_CLASSES"]
    assert classes[0] == f"{CachedBasicAuthentication.__module__}.{CachedBasicAuthentication.__name__}"
    assert "rest_framework.authentication.TokenAuthentication" in classes
    assert "rest_framework.authtoken" in built["INSTALLED_APPS"]
    assert built["CHASSIS_AUTH"]["USER_TTL"] == 0
    assert built["CHASSIS_AUTH"]["CREDENTIAL_CACHE"] is True
    assert built["CACHES"][AuthSettings.from_mapping(built["CHASSIS_AUTH"]).failure_cache]["OPTIONS"][
        "MAX_ENTRIES"
    ]


@pytest.mark.parametrize(
    ("name", "value"), [("AUTH_CREDENTIAL_CACHE", "maybe"), ("AUTH_FAILURE_LIMIT", "ten")]
)
def test_malformed_auth_environment_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ImproperlyConfigured, match=name):
        auth_settings_from_env()


def test_the_cache_can_be_switched_off_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_CREDENTIAL_CACHE", "0")

    assert AuthSettings.from_mapping(auth_settings_from_env()).credential_cache is False
