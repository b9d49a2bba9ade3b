"""Helpers that turn environment variables into Django settings values.

Every service reads its configuration from the environment (twelve-factor style); these
helpers make a malformed value fail start-up with a message naming the variable, instead of
silently falling back to a default.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    """The variable ``name`` as is, or ``default`` when it is unset (an empty value is kept)."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """The variable ``name`` as a boolean (1/0, true/false, yes/no, on/off; empty is false).

    Anything else raises ``ImproperlyConfigured``: a typo such as ``DJANGO_DEBUG=flase`` must
    not quietly turn a safety switch either way.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean (use one of 1/0, true/false, yes/no, on/off)."
    )


def env_int(name: str, default: int) -> int:
    """The variable ``name`` as an integer; ``default`` when unset or blank.

    A value that is not an integer raises ``ImproperlyConfigured`` naming the variable.
    """
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """The variable ``name`` as a comma-separated list (items stripped, empty items dropped).

    Unset gives a copy of ``default``; set but empty gives ``[]``, so an operator can
    explicitly clear a list such as ``DJANGO_ALLOWED_HOSTS``.
    """
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str, *, conn_max_age: int, application_name: str) -> dict[str, Any]:
    """Build a ``DATABASES`` entry from ``postgresql://user:pass@host:port/name?option=value``.

    One ``DATABASE_URL`` is how platforms hand out a database, and it keeps the credentials in
    one variable. Query parameters are passed to libpq as connection options (``sslmode``,
    ``connect_timeout``, ``host`` for a Unix socket directory, ...); ``application_name``
    labels the service's connections in ``pg_stat_activity``. Connections are persistent for
    ``conn_max_age`` seconds and health-checked before reuse.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}.")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured(
            "DATABASE_URL has no database name (postgresql://user:pass@host:port/<name>)."
        )

    # urlsplit().hostname lowercases, which would corrupt a percent-encoded socket path.
    hostinfo = parts.netloc.rpartition("@")[2]
    if hostinfo.startswith("["):
        host, _, rest = hostinfo[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = hostinfo.partition(":")
    if port and not port.isdigit():
        raise ImproperlyConfigured(f"DATABASE_URL has an invalid port {port!r}.")

    options: dict[str, Any] = {
        "connect_timeout": 5,
        "application_name": application_name,
    }
    options.update(parse_qsl(parts.query))
    host = options.pop("host", None) or unquote(host)
    port = options.pop("port", None) or port

    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port),
        "OPTIONS": options,
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": True,
    }
