"""Consumer-side handler building AccountProjection, version-guarded."""

from __future__ import annotations

from eventing import Event, handler
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.models import AccountProjection


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
