"""Event declarations of the test app (also used by the integration tests)."""

from __future__ import annotations

import os

from eventing import declare

ACCOUNT_STATE = declare(
    "account_state",
    topic=os.environ["EVENTING_TESTS_TOPIC"],
    schema="testapp/AccountState.avsc",
)
