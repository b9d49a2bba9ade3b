"""Fault tests reuse the e2e fixtures (the whole stack and the API clients)."""

from __future__ import annotations

from tests.e2e.conftest import connect, connect_url, customers, orders, points  # noqa: F401
