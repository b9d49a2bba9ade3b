"""The contract of a service that runs an eventing consumer, as pytest tests (opt-in).

Its ``/health/`` must fail until a member of its consumer group has reported in, so a
service whose consumer is down is not reported healthy. A service with a consumer runs it
next to the site contract, and names the group in its ``site`` fixture
(``ServiceSite(consumer_group=...)``)::

    from chassis.testing.consumer_contract import *  # noqa: F403
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from chassis.testing.site_contract import ServiceSite

__all__ = ["test_health_is_503_when_no_consumer_has_reported"]


@pytest.mark.integration
@pytest.mark.django_db
def test_health_is_503_when_no_consumer_has_reported(site: ServiceSite, anonymous_api: APIClient) -> None:
    assert site.consumer_group, "the site fixture names the consumer group (ServiceSite.consumer_group)"

    response = anonymous_api.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["consumer"] == "error"
    assert (
        body["errors"]["consumer"] == f"RuntimeError: no consumer of group {site.consumer_group} has reported"
    )
