"""Consumer-side handler building AccountProjection, version-guarded."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from eventing import Event, handler
from tests.testapp.events import ACCOUNT_OPENED, ACCOUNT_STATE
from tests.testapp.models import AccountProjection, AppliedEvent


def project_account(event: Event) -> None:
    data = event.data
    row = AccountProjection.objects.select_for_update().filter(account_id=data["id"]).first()
    if row is None:
        AccountProjection.objects.create(
            account_id=data["id"],
            owner=data["owner"],
            balance=data["balance"],
            version=data["version"],
        )
    elif data["version"] > row.version:
        row.owner, row.balance, row.version = data["owner"], data["balance"], data["version"]
        row.applications += 1
        row.save()


handler(ACCOUNT_STATE)(project_account)


def record_applications(events: Sequence[Event]) -> None:
    """Write one AppliedEvent row per event; ``EVENTING_TEST_BATCH_COST`` seconds of work per batch.

    The cost makes a backlog last long enough for members to join and leave mid-drain.
    """
    AppliedEvent.objects.bulk_create(
        AppliedEvent(event_id=e.id, partition=e.partition, offset=e.offset, pid=os.getpid()) for e in events
    )
    cost = float(os.environ.get("EVENTING_TEST_BATCH_COST", "0"))
    if cost:
        threading.Event().wait(cost)


handler(ACCOUNT_OPENED, batch=True)(record_applications)
