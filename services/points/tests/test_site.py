"""Operational surface of the points service: the chassis' site contract, and the consumer
contract for the consumer that feeds its read model (``points.read-model``).

Its only endpoint answers 404 for an unknown customer, which is what an authenticated
request must get (an anonymous one gets 401).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import points_site.settings
from chassis.testing.consumer_contract import *  # noqa: F403
from chassis.testing.site_contract import *  # noqa: F403
from chassis.testing.site_contract import ServiceSite


@pytest.fixture
def site() -> ServiceSite:
    return ServiceSite(
        service="points",
        db_name="points",
        api_paths={"/api/award/{customer_id}/"},
        # An endpoint that answers this status to an authenticated user.
        auth_probe=("/api/award/00000000-0000-0000-0000-000000000000/", 404),
        settings_file=Path(points_site.settings.__file__),
        service_dir=Path(__file__).resolve().parents[1],
        default_port=8003,
        # Its other checks need Kafka, the registry and a running consumer (e2e tests).
        offline_health_checks=["eventing.health.check_database"],
        consumer_group="points.read-model",
    )
