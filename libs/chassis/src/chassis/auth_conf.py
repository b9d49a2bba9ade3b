"""``CHASSIS_AUTH``: the settings of ``chassis.auth``, their defaults and their validation.

Kept free of Django and DRF imports, so settings modules and system checks can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULTS: dict[str, Any] = {
    # Remember successful basic-auth verifications (off: hash on every request, DRF's way).
    "CREDENTIAL_CACHE": True,
    # Seconds a verified credential is trusted before it is hashed again.
    "CREDENTIAL_TTL": 300,
    # Verified credentials (and user rows) kept per process, least recently used out.
    "CREDENTIAL_MAX_ENTRIES": 10_000,
    # Seconds a user row is trusted on a cache hit: the bound on how late another process
    # notices a password change or deactivation (0: read the row on every request).
    "USER_TTL": 2,
    # Failed verifications per username / per client address before lockout (0: no lockout).
    "FAILURE_LIMIT": 10,
    # Seconds from the first failure over which failures are counted, and the lockout lasts.
    "FAILURE_WINDOW": 300,
    # What failures are counted by: "username", "ip" or both.
    "FAILURE_SCOPES": ("username", "ip"),
    # The Django cache (CACHES alias) holding the failure counters.
    "FAILURE_CACHE": "auth-failures",
}
_SCOPES = {"username", "ip"}


@dataclass(frozen=True)
class AuthSettings:
    """``settings.CHASSIS_AUTH`` over ``DEFAULTS``, validated (see ``chassis.checks``)."""

    credential_cache: bool
    credential_ttl: float
    credential_max_entries: int
    user_ttl: float
    failure_limit: int
    failure_window: float
    failure_scopes: frozenset[str]
    failure_cache: str

    @classmethod
    def from_mapping(cls, configured: Mapping[str, Any]) -> AuthSettings:
        """Build from a ``CHASSIS_AUTH`` mapping; raises ``ValueError`` naming a bad key."""
        unknown = set(configured) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown CHASSIS_AUTH keys: {', '.join(sorted(unknown))}")
        merged = {**DEFAULTS, **configured}
        for key in ("CREDENTIAL_TTL", "USER_TTL", "FAILURE_WINDOW"):
            if not isinstance(merged[key], int | float) or merged[key] < 0:
                raise ValueError(f"CHASSIS_AUTH['{key}'] must be a number of seconds >= 0")
        for key in ("CREDENTIAL_MAX_ENTRIES", "FAILURE_LIMIT"):
            if not isinstance(merged[key], int) or merged[key] < 0:
                raise ValueError(f"CHASSIS_AUTH['{key}'] must be an integer >= 0")
        scopes = frozenset(merged["FAILURE_SCOPES"])
        if not scopes <= _SCOPES:
            raise ValueError("CHASSIS_AUTH['FAILURE_SCOPES'] may only contain 'username' and 'ip'")
        if merged["FAILURE_LIMIT"] and merged["FAILURE_WINDOW"] <= 0:
            raise ValueError("CHASSIS_AUTH['FAILURE_WINDOW'] must be > 0 while FAILURE_LIMIT is set")
        return cls(
            credential_cache=bool(merged["CREDENTIAL_CACHE"]),
            credential_ttl=float(merged["CREDENTIAL_TTL"]),
            credential_max_entries=int(merged["CREDENTIAL_MAX_ENTRIES"]),
            user_ttl=float(merged["USER_TTL"]),
            failure_limit=int(merged["FAILURE_LIMIT"]),
            failure_window=float(merged["FAILURE_WINDOW"]),
            failure_scopes=scopes,
            failure_cache=str(merged["FAILURE_CACHE"]),
        )
