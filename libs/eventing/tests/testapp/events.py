"""Event declarations of the test app (also used by the integration tests)."""

from __future__ import annotations

import os

from eventing import declare

ACCOUNT_STATE = declare(
    "account_state",
    topic=os.environ["EVENTING_TESTS_TOPIC"],
    schema="testapp/AccountState.avsc",
)

ACCOUNT_OPENED = declare(
    "account_opened",
    topic=os.environ["EVENTING_TESTS_BULK_TOPIC"],
    schema="testapp/AccountState.avsc",
    owned=False,
)
"""A backlog of these is drained by several consumer processes while the group rebalances."""
