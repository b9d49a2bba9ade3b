"""Producer-side service functions: the change and its event in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction

from eventing import publish
from eventing.events import EventType
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.models import Account


def account_state(account: Account) -> dict[str, object]:
    return {
        "id": account.id,
        "owner": account.owner,
        "balance": account.balance,
        "opened_at": account.opened_at,
        "version": account.version,
    }


@transaction.atomic
def account_open(*, owner: str, balance: int = 0, event_type: EventType = ACCOUNT_STATE) -> Account:
    account = Account.objects.create(owner=owner, balance=balance, opened_at=datetime.now(UTC))
    publish(event_type, account_state(account))
    return account
