"""The authentication contract of every service, as pytest tests on its database.

HTTP basic (the seed's ``curl -u``) hashes a password once and then serves the verified
credential from memory; a password change or deactivation takes effect; wrong passwords are
hashed every time and never cached; repeated failures lock the username and the address out
for a window; tokens work for service clients; no password is ever kept in memory.

Every name here is re-exported by ``chassis.testing.site_contract``, so a service that runs
the site contract runs these too. Needs the ``site`` fixture (its ``auth_probe``) and the
fixtures of ``chassis.testing.fixtures`` (``user``, ``hashes``, ``auth_config``).
"""

from __future__ import annotations

import base64
import io
import pickle
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import caches
from django.core.management import call_command
from rest_framework.test import APIClient

from chassis import auth
from chassis.testing.fixtures import PASSWORD

__all__ = [
    "test_a_401_still_challenges_for_basic_auth",
    "test_a_change_made_elsewhere_is_noticed_within_user_ttl",
    "test_a_password_change_invalidates_the_cached_credential_at_once",
    "test_a_wrong_password_is_hashed_every_time_and_never_cached",
    "test_basic_auth_hashes_once_then_serves_from_memory",
    "test_deactivation_invalidates_the_cached_credential_at_once",
    "test_failures_from_one_address_lock_out_every_username_from_it",
    "test_memory_never_holds_the_plaintext_password",
    "test_repeated_failures_lock_the_username_out_until_the_window_ends",
    "test_token_auth_for_a_service_account",
    "test_with_the_cache_off_every_request_hashes",
]


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def client(authorization: str | None = None, address: str = "127.0.0.1") -> APIClient:
    api = APIClient(HTTP_ACCEPT="application/json", REMOTE_ADDR=address)
    if authorization:
        api.credentials(HTTP_AUTHORIZATION=authorization)
    return api


def eventually(condition: Any, *, timeout: float, what: str) -> None:
    """``eventing.testing.eventually``, imported late: importing it loads eventing's models."""
    from eventing.testing import eventually as poll

    poll(condition, timeout=timeout, what=what)


def probe(site: Any, api: APIClient) -> int:
    path, _ = site.auth_probe
    return int(api.get(path).status_code)


@pytest.mark.integration
@pytest.mark.django_db
def test_basic_auth_hashes_once_then_serves_from_memory(site: Any, user: Any, hashes: list[str]) -> None:
    # Given a client sending basic credentials on every request, like the seed's curl -u
    api = client(basic(user.username, PASSWORD))
    _, authenticated = site.auth_probe
    hashes.clear()

    # When it makes its first request, then two more
    first = probe(site, api)
    after_first = list(hashes)
    later = [probe(site, api), probe(site, api)]

    # Then the password is hashed for the first only
    assert first == authenticated
    assert after_first == ["verify"], after_first
    assert later == [authenticated, authenticated]
    assert hashes == ["verify"], hashes


@pytest.mark.integration
@pytest.mark.django_db
def test_a_wrong_password_is_hashed_every_time_and_never_cached(
    user: Any, site: Any, hashes: list[str]
) -> None:
    api = client(basic(user.username, "not the password"))
    hashes.clear()

    statuses = [probe(site, api) for _ in range(3)]

    assert statuses == [401, 401, 401]
    assert hashes == ["verify", "verify", "verify"], hashes
    assert len(auth.credential_cache().verified) == 0
    # A user that does not exist costs a hash too (Django's ModelBackend), so the time of a
    # 401 does not tell which usernames exist.
    hashes.clear()
    assert probe(site, client(basic("nobody-" + user.username, "x"))) == 401
    assert hashes


@pytest.mark.integration
@pytest.mark.django_db
def test_a_password_change_invalidates_the_cached_credential_at_once(user: Any, site: Any) -> None:
    old = client(basic(user.username, PASSWORD))
    _, authenticated = site.auth_probe
    assert probe(site, old) == authenticated  # verified and cached

    user.set_password("a new passphrase 42")
    user.save()

    assert probe(site, old) == 401
    assert probe(site, client(basic(user.username, "a new passphrase 42"))) == authenticated


@pytest.mark.integration
@pytest.mark.django_db
def test_deactivation_invalidates_the_cached_credential_at_once(user: Any, site: Any) -> None:
    api = client(basic(user.username, PASSWORD))
    _, authenticated = site.auth_probe
    assert probe(site, api) == authenticated

    user.is_active = False
    user.save()

    assert probe(site, api) == 401


@pytest.mark.integration
@pytest.mark.django_db
def test_a_change_made_elsewhere_is_noticed_within_user_ttl(
    user: Any, site: Any, auth_config: Any, django_user_model: Any
) -> None:
    # Given a credential cached in this process, and user rows trusted for 1 s
    auth_config(USER_TTL=1)
    api = client(basic(user.username, PASSWORD))
    _, authenticated = site.auth_probe
    assert probe(site, api) == authenticated

    # When another process changes the password (no signal reaches this one)
    django_user_model.objects.filter(pk=user.pk).update(password=make_password("changed elsewhere"))

    # Then the old password stops working within USER_TTL (and the deadline is generous)
    eventually(lambda: probe(site, api) == 401, timeout=10, what="the old password to be refused")
    # And with USER_TTL=0 the row is read on every hit: refused at once
    auth_config(USER_TTL=0)
    api = client(basic(user.username, "changed elsewhere"))
    assert probe(site, api) == authenticated
    django_user_model.objects.filter(pk=user.pk).update(is_active=False)
    assert probe(site, api) == 401


@pytest.mark.integration
@pytest.mark.django_db
def test_repeated_failures_lock_the_username_out_until_the_window_ends(
    user: Any, site: Any, auth_config: Any, hashes: list[str]
) -> None:
    # Given a lockout after 3 failures within 2 s
    auth_config(FAILURE_LIMIT=3, FAILURE_WINDOW=2)
    wrong = client(basic(user.username, "guess"), address="203.0.113.1")
    assert [probe(site, wrong) for _ in range(3)] == [401, 401, 401]
    hashes.clear()

    # When the right password comes, even from another address
    right = client(basic(user.username, PASSWORD), address="203.0.113.2")
    path, _ = site.auth_probe
    response = right.get(path)

    # Then it is refused without hashing, saying why and for how long
    assert response.status_code == 429
    assert "Too many failed authentication attempts" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 2
    assert probe(site, wrong) == 429
    assert hashes == [], hashes
    # And once the window has passed, the right password works again
    _, authenticated = site.auth_probe
    eventually(lambda: probe(site, right) == authenticated, timeout=10, what="the lockout to end")


@pytest.mark.integration
@pytest.mark.django_db
def test_failures_from_one_address_lock_out_every_username_from_it(
    user: Any, site: Any, auth_config: Any
) -> None:
    auth_config(FAILURE_LIMIT=3, FAILURE_WINDOW=60)
    for name in ("mallory-1", "mallory-2", "mallory-3"):
        assert probe(site, client(basic(name, "guess"), address="198.51.100.7")) == 401

    _, authenticated = site.auth_probe
    assert probe(site, client(basic(user.username, PASSWORD), address="198.51.100.7")) == 429
    assert probe(site, client(basic(user.username, PASSWORD), address="198.51.100.8")) == authenticated


@pytest.mark.integration
@pytest.mark.django_db
def test_with_the_cache_off_every_request_hashes(
    user: Any, site: Any, auth_config: Any, hashes: list[str]
) -> None:
    auth_config(CREDENTIAL_CACHE=False)
    api = client(basic(user.username, PASSWORD))
    _, authenticated = site.auth_probe
    hashes.clear()

    assert [probe(site, api) for _ in range(3)] == [authenticated] * 3
    assert hashes == ["verify", "verify", "verify"], hashes


@pytest.mark.integration
@pytest.mark.django_db
def test_token_auth_for_a_service_account(site: Any) -> None:
    # Given a token issued by the management command to a new service account
    out = io.StringIO()
    call_command("api_token", "billing-client", "--create-user", stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip()
    _, authenticated = site.auth_probe

    # Then the token authenticates, a wrong one does not, and the account has no password
    assert probe(site, client(f"Token {key}")) == authenticated
    assert probe(site, client("Token " + "0" * 40)) == 401
    assert probe(site, client(basic("billing-client", ""))) == 401
    # And asking again prints the same key; --reset replaces it and the old one stops working
    again = io.StringIO()
    call_command("api_token", "billing-client", stdout=again, stderr=io.StringIO())
    assert again.getvalue().strip() == key
    reset = io.StringIO()
    call_command("api_token", "billing-client", "--reset", stdout=reset, stderr=io.StringIO())
    assert reset.getvalue().strip() != key
    assert probe(site, client(f"Token {key}")) == 401
    assert probe(site, client(f"Token {reset.getvalue().strip()}")) == authenticated


@pytest.mark.integration
@pytest.mark.django_db
def test_memory_never_holds_the_plaintext_password(user: Any, site: Any) -> None:
    # Given successful and failed basic-auth requests
    _, authenticated = site.auth_probe
    assert probe(site, client(basic(user.username, PASSWORD))) == authenticated
    assert probe(site, client(basic(user.username, PASSWORD + "-typo"))) == 401

    # Then neither the password nor its typo is in the credential cache or the failure counters
    cache = auth.credential_cache()
    held = pickle.dumps(
        (cache.verified.items(), cache.users.items(), dict(caches[auth.auth_settings().failure_cache]._cache))  # type: ignore[attr-defined]
    )
    assert len(cache.verified) == 1
    assert PASSWORD.encode() not in held
    assert PASSWORD.encode("utf-16-le") not in held
    assert PASSWORD.split()[0].encode() not in held


@pytest.mark.integration
@pytest.mark.django_db
def test_a_401_still_challenges_for_basic_auth(site: Any) -> None:
    path, _ = site.auth_probe

    response = client().get(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
