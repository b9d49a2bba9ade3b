"""Operational surface of the customers service: the chassis' site contract (settings and
production refusals, health, schema and docs, logging, gunicorn, admin, dev superuser).

Its /health/ also checks its outbox connector (e2e and fault tests); the contract runs the
database check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import customers_site.settings
from chassis.testing.site_contract import *  # noqa: F403
from chassis.testing.site_contract import ServiceSite


@pytest.fixture
def site() -> ServiceSite:
    return ServiceSite(
        service="customers",
        db_name="customer",
        api_paths={"/api/customers/", "/api/customers/{customer_id}/"},
        # An endpoint that answers this status to an authenticated user.
        auth_probe=("/api/customers/", 200),
        settings_file=Path(customers_site.settings.__file__),
        service_dir=Path(__file__).resolve().parents[1],
        default_port=8001,
        offline_health_checks=["eventing.health.check_database"],
    )
