"""The status row's recent end-to-end latency, read by the flow page, from a real runner loop."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from eventing.consumer.kafka import StatusReporter
from eventing.flow import latency_section
from eventing.inbox.models import ConsumerStatus
from eventing.testing import cloudevent_message
from tests.integration.test_runner_in_memory import FakeClock, make_runner, state
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.handlers import project_account

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_applied_events_latency_reaches_the_status_row_and_the_flow_page(fake_registry, broker) -> None:
    runner, _, _ = make_runner(broker, project_account, FakeClock())
    reporter = StatusReporter()
    reporter(runner)
    assert ConsumerStatus.objects.get(member=runner.member).latency is None  # nothing applied yet

    # Two events stamped 3 s and 5 s ago (ce_time), applied now: a mean of about 4 s.
    for age in (3, 5):
        moment = (datetime.now(UTC) - timedelta(seconds=age)).isoformat()
        cloudevent_message(broker, ACCOUNT_STATE, state(uuid.uuid4()), headers={"ce_time": moment})
    runner.run_once()
    reporter(runner)

    row = ConsumerStatus.objects.get(member=runner.member)
    assert row.latency is not None and 4.0 <= row.latency < 10.0
    assert row.latency_at is not None
    (item,) = [i for i in latency_section()["items"] if i["member"] == runner.member]
    assert item["latency_ms"] == pytest.approx(row.latency * 1000, abs=0.1)
    assert item["id"] == f"latency-{runner.member}"
