"""Authentication for the services' APIs: HTTP basic that hashes once, tokens, and a lockout.

Django stores passwords as PBKDF2 hashes with a million iterations, on purpose: verifying
one costs ~0.2 s of CPU, which is what makes a stolen hash expensive to crack. DRF's
``BasicAuthentication`` pays that on *every* request, so an API used the way the seed uses it
(``curl -u root:P@ssw0rd1`` on each call) serves about ten authenticated requests per second
per core. ``CachedBasicAuthentication`` verifies a credential once and then remembers the
success, in process memory:

* the cache is keyed by ``HMAC-SHA256(per-process random key, username, password)``: the
  password is never stored, and the keys are worthless outside the process;
* an entry holds the user's primary key and the password hash it was verified against; on a
  hit, the user's *current* row (itself cached for at most ``USER_TTL`` seconds) must still
  have that hash and still be active, so a password change or deactivation invalidates it:
  at once in the process that saved the user (a ``post_save`` signal drops the row), within
  ``USER_TTL`` in every other process (other gunicorn workers, other hosts);
* entries live at most ``CREDENTIAL_TTL`` seconds and at most ``CREDENTIAL_MAX_ENTRIES`` are
  kept (least recently used out);
* only successes are cached: a wrong password still costs the full hash, every time.

Brute force is also rate limited: after ``FAILURE_LIMIT`` failed verifications for one
username or from one client address within ``FAILURE_WINDOW`` seconds, every basic-auth
attempt for that username or from that address (right or wrong, cached or not) is refused
with 429 and ``Retry-After`` until the window ends, without hashing. The counters live in the
Django cache named by ``FAILURE_CACHE`` (a bounded local-memory cache per process by
default; point it at a shared cache to count across processes).

``TokenAuthentication`` (DRF's, ``Authorization: Token <key>``) is for service clients; keys
are issued by ``manage.py api_token``.

Settings: ``CHASSIS_AUTH = {...}`` (see ``DEFAULTS``); ``chassis.settings`` fills it from the
``AUTH_*`` environment variables.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import BaseCache, InvalidCacheBackendError, caches
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication
from rest_framework.request import Request

from chassis.auth_conf import DEFAULTS, AuthSettings

__all__ = [
    "DEFAULTS",
    "AuthSettings",
    "CachedBasicAuthentication",
    "CredentialCache",
    "FailureLimiter",
    "auth_settings",
    "credential_cache",
    "failure_limiter",
    "reset_state",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A thread-safe LRU mapping whose entries also expire ``ttl`` seconds after insertion.

    Bounded in size and in time: what the credential cache needs, at dictionary speed.
    ``clock`` is injectable so tests can move time without sleeping.
    """

    def __init__(self, *, max_entries: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The live value under ``key`` (and mark it recently used), or ``None``."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value = item
            if self.clock() >= expires:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: K, value: V) -> None:
        """Store ``value`` for ``ttl`` seconds, evicting the least recently used when full."""
        if self.max_entries <= 0 or self.ttl <= 0:
            return
        with self._lock:
            self._data[key] = (self.clock() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget ``key`` if present."""
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> list[tuple[K, V]]:
        """A snapshot of the entries (expired ones included), for inspection in tests."""
        with self._lock:
            return [(key, value) for key, (_, value) in self._data.items()]


@dataclass(frozen=True)
class _Verified:
    """A successful verification: whose, and against which stored password hash."""

    user_pk: Any
    password_hash: str


class CredentialCache:
    """Successful basic-auth verifications of this process, and the user rows they point at.

    Keys are ``HMAC-SHA256`` of the credential under a random key made when the process
    starts (each gunicorn worker has its own); neither the password nor a plain hash of it is
    ever stored.
    """

    def __init__(self, *, max_entries: int, credential_ttl: float, user_ttl: float) -> None:
        self._key = secrets.token_bytes(32)
        self.verified: TTLCache[bytes, _Verified] = TTLCache(max_entries=max_entries, ttl=credential_ttl)
        self.users: TTLCache[Any, Any] = TTLCache(max_entries=max_entries, ttl=user_ttl)

    def key(self, username: str, password: str) -> bytes:
        """The cache key of a credential (length-prefixed, so no two credentials share one)."""
        message = f"{len(username)}:{username}:{password}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def lookup(self, username: str, password: str) -> Any | None:
        """The user a cached verification of this credential vouches for, or ``None``.

        ``None`` when there is none, it expired, or the user's current row (trusted for
        ``USER_TTL`` seconds) no longer has the verified password hash or is inactive; the
        caller then verifies the credential in full.
        """
        key = self.key(username, password)
        verified = self.verified.get(key)
        if verified is None:
            return None
        user = self._user(verified.user_pk)
        if (
            user is None
            or not user.is_active
            or not hmac.compare_digest(user.password, verified.password_hash)
        ):
            self.verified.pop(key)
            return None
        # A copy: a view that modifies request.user must not change the cached row.
        return copy.copy(user)

    def remember(self, username: str, password: str, user: Any) -> None:
        """Record that ``username``/``password`` verified as ``user`` (with its current hash)."""
        self.verified.set(self.key(username, password), _Verified(user.pk, user.password))
        row = copy.copy(user)
        row._password = None  # Django keeps a just-set raw password here until save()
        self.users.set(user.pk, row)

    def forget_user(self, pk: Any) -> None:
        """Drop the cached row of user ``pk``: its next cache hit reads the row again."""
        self.users.pop(pk)

    def clear(self) -> None:
        self.verified.clear()
        self.users.clear()

    def _user(self, pk: Any) -> Any | None:
        user = self.users.get(pk)
        if user is None:
            user_model = get_user_model()
            user = user_model._default_manager.filter(pk=pk).first()
            if user is None:
                return None
            self.users.set(pk, user)
        return user


class FailureLimiter:
    """Counts failed verifications per username and per client address in a Django cache.

    Fixed window from the first failure: after ``limit`` failures within ``window`` seconds,
    the username (or address) is locked until the window ends. Username keys are hashed, so
    arbitrary input is a valid cache key and the cache holds no credential material.
    """

    def __init__(self, *, limit: int, window: float, scopes: frozenset[str], cache_alias: str) -> None:
        self.limit = limit
        self.window = window
        self.scopes = scopes
        self.cache_alias = cache_alias

    @property
    def cache(self) -> BaseCache:
        return caches[self.cache_alias]

    def _keys(self, username: str, address: str) -> list[str]:
        keys = []
        if "username" in self.scopes:
            digest = hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:32]
            keys.append(f"chassis.auth.fail.u.{digest}")
        if "ip" in self.scopes and address:
            keys.append(f"chassis.auth.fail.ip.{address}")
        return keys

    def retry_after(self, username: str, address: str) -> int | None:
        """Seconds until ``username``/``address`` may try again, or ``None`` if not locked."""
        if self.limit <= 0:
            return None
        keys = self._keys(username, address)
        counts = self.cache.get_many(keys)
        locked = [key for key in keys if counts.get(key, 0) >= self.limit]
        if not locked:
            return None
        starts = self.cache.get_many([f"{key}.start" for key in locked])
        now = time.time()
        waits = [float(start) + self.window - now for start in starts.values()]
        return max(1, math.ceil(max(waits, default=self.window)))

    def record_failure(self, username: str, address: str) -> None:
        """Count one failed verification against the username and the address."""
        if self.limit <= 0:
            return
        cache = self.cache
        for key in self._keys(username, address):
            if cache.add(key, 1, timeout=self.window):
                cache.set(f"{key}.start", time.time(), timeout=self.window)
                continue
            try:
                cache.incr(key)
            except ValueError:  # expired between add() and incr(): a new window
                cache.set(key, 1, timeout=self.window)
                cache.set(f"{key}.start", time.time(), timeout=self.window)

    def reset(self, username: str, address: str) -> None:
        """Forget the failures of ``username`` and ``address`` (an operator's unlock)."""
        keys = self._keys(username, address)
        self.cache.delete_many(keys + [f"{key}.start" for key in keys])


_state: dict[str, Any] = {}


def auth_settings() -> AuthSettings:
    """The current ``CHASSIS_AUTH``, parsed once and reloaded when the setting changes."""
    current = _state.get("settings")
    if current is None:
        current = _state["settings"] = AuthSettings.from_mapping(getattr(settings, "CHASSIS_AUTH", {}))
    return current


def credential_cache() -> CredentialCache:
    """This process's cache of verified credentials."""
    current = _state.get("cache")
    if current is None:
        config = auth_settings()
        current = _state["cache"] = CredentialCache(
            max_entries=config.credential_max_entries,
            credential_ttl=config.credential_ttl,
            user_ttl=config.user_ttl,
        )
    return current


def failure_limiter() -> FailureLimiter:
    """The failure counter configured by ``CHASSIS_AUTH``."""
    current = _state.get("limiter")
    if current is None:
        config = auth_settings()
        current = _state["limiter"] = FailureLimiter(
            limit=config.failure_limit,
            window=config.failure_window,
            scopes=config.failure_scopes,
            cache_alias=config.failure_cache,
        )
    return current


def reset_state() -> None:
    """Forget every cached credential and failure count of this process (tests, operators)."""
    _state.clear()
    with contextlib.suppress(InvalidCacheBackendError):
        caches[auth_settings().failure_cache].clear()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in {"CHASSIS_AUTH", "CACHES", "AUTH_USER_MODEL"}:
        _state.clear()


setting_changed.connect(_reload)


def _forget_saved_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    cache = _state.get("cache")
    if cache is not None and sender is get_user_model():
        cache.forget_user(instance.pk)


# Any save or delete of a user in this process (password change, deactivation, admin edit)
# drops its cached row at once; other processes notice within USER_TTL.
post_save.connect(_forget_saved_user, dispatch_uid="chassis.auth.forget_saved_user")
post_delete.connect(_forget_saved_user, dispatch_uid="chassis.auth.forget_deleted_user")


class CachedBasicAuthentication(BasicAuthentication):  # type: ignore[misc]
    """DRF's HTTP basic authentication, with verified credentials cached and failures limited.

    Same header, same 401s, same ``WWW-Authenticate: Basic realm="api"`` as DRF's; a locked
    username or address gets 429 with ``Retry-After``. See the module docstring for the cache's
    bounds and how it is invalidated.
    """

    def authenticate_credentials(
        self, userid: str, password: str, request: Request | None = None
    ) -> tuple[Any, None]:
        config = auth_settings()
        limiter = failure_limiter()
        address = _client_address(request)
        wait = limiter.retry_after(userid, address)
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait,
                # DRF appends "Expected available in N seconds." (and sets Retry-After).
                detail="Too many failed authentication attempts for this username or client address.",
            )
        cache = credential_cache() if config.credential_cache else None
        if cache is not None:
            user = cache.lookup(userid, password)
            if user is not None:
                return (user, None)
        try:
            user, auth = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            limiter.record_failure(userid, address)
            raise
        if cache is not None:
            cache.remember(userid, password, user)
        return (user, auth)


def _client_address(request: Request | None) -> str:
    """The peer address: services sit behind gunicorn on loopback, so ``REMOTE_ADDR``.

    ``X-Forwarded-For`` is not trusted (any client can send it); behind a proxy, every client
    shares the proxy's address, so count by username only (``FAILURE_SCOPES``).
    """
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))
