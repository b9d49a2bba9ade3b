"""Operational surface of the orders service: the chassis' site contract, and the consumer
contract for its CDC translator (``orders.translator``), whose health ``/health/`` reports."""

from __future__ import annotations

from pathlib import Path

import pytest

import orders_site.settings
from chassis.testing.consumer_contract import *  # noqa: F403
from chassis.testing.site_contract import *  # noqa: F403
from chassis.testing.site_contract import ServiceSite


@pytest.fixture
def site() -> ServiceSite:
    return ServiceSite(
        service="orders",
        db_name="orders",
        api_paths={"/api/orders/", "/api/orders/{order_id}/"},
        # An endpoint that answers this status to an authenticated user.
        auth_probe=("/api/orders/", 200),
        settings_file=Path(orders_site.settings.__file__),
        service_dir=Path(__file__).resolve().parents[1],
        default_port=8002,
        # Its other checks need Kafka, the registry and a running consumer (e2e tests).
        offline_health_checks=["eventing.health.check_database"],
        consumer_group="orders.translator",
    )
