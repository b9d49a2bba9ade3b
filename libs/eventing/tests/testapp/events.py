"""Event declarations of the test app (also used by the integration tests)."""

from __future__ import annotations

from eventing import declare

ACCOUNT_STATE = declare(
    "account_state",
    topic="eventing_tests_account_events",
    schema="testapp/AccountState.avsc",
)
