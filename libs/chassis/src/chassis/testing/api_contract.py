"""The OpenAPI contract of a service's API, checked by schemathesis against the service itself.

Every operation of ``/api/schema/`` is called in-process (the service's WSGI application on its
test database, so nothing reaches Kafka) with requests generated from the schema: valid ones,
which must be accepted, and invalid ones, which must be rejected with a documented 4xx. Every
response must be documented (status, content type, headers) and match its body schema; every
schemathesis check runs (``--checks all``). The stateful test chains operations through the
links schemathesis infers (create, then read, update, delete what was created).

Bounded and reproducible: ``MAX_EXAMPLES`` per operation, a fixed seed (Hypothesis
``derandomize``), no example database written to disk. A failure prints the request that
broke the contract.

A service runs it from its ``tests/test_api_contract.py``::

    from chassis.testing.api_contract import *  # noqa: F403

Importing this module loads the schema from the service's ``/api/schema/``. Needs
pytest-django and the fixtures of ``chassis.testing.fixtures`` (``user``, ``auth_config``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings

from chassis.testing.fixtures import PASSWORD, USERNAME

__all__ = [
    "contract_site",
    "schema",
    "test_api_keeps_its_contract_across_calls",
    "test_api_keeps_its_openapi_contract",
]

MAX_EXAMPLES = 30
# Stateful: scenarios, and calls per scenario.
MAX_SCENARIOS = 15
MAX_STEPS = 6
SCHEMA_PATH = "/api/schema/"
# Statuses no request with valid credentials may get: the credentials must reach every view,
# or the positive cases would "pass" as 401s.
REFUSED = frozenset({401, 403, 429})

HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # a fixed seed: the same cases on every run
    database=None,  # no .hypothesis/ directory left in the repository
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        # The user and the test's transaction are meant to last across the examples.
        HealthCheck.function_scoped_fixture,
    ],
)


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "checks": {"enabled": True},  # --checks all
            "generation": {
                "mode": "all",  # valid and invalid requests
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                # The test's credentials, not generated Authorization headers for tokenAuth.
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"max-steps": MAX_STEPS}},
            # The ``user`` fixture's credentials; schemathesis knows them, so ignored_auth can
            # send the same request without them, or with wrong ones.
            "auth": {"basic": {"username": USERNAME, "password": PASSWORD}},
        }
    )


def load_schema() -> schemathesis.BaseSchema:
    """The service's schema, from its WSGI application (this process's Django settings)."""
    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application(), config=_config())


# Loaded when the test module is imported (pytest-django has set Django up by then): the schema
# view needs no database, and each operation becomes a test of its own.
schema = load_schema()


@pytest.fixture
def contract_site(auth_config: Any) -> Iterator[None]:
    """The service as the contract tests call it: through its WSGI application, in the test's
    transaction.

    Django closes the database connection at the end of each request; its test client stops
    that (the test's transaction lives on that connection), and so does this. And no lockout:
    ignored_auth sends wrong credentials on purpose (the lockout has tests of its own).
    """
    auth_config(FAILURE_LIMIT=0)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.integration
@pytest.mark.django_db
@schema.parametrize()
@HYPOTHESIS
def test_api_keeps_its_openapi_contract(case: schemathesis.Case[Any], user: Any, contract_site: None) -> None:
    response = case.call_and_validate()

    assert response.status_code not in REFUSED, (response.status_code, response.text)


@pytest.mark.integration
@pytest.mark.django_db
def test_api_keeps_its_contract_across_calls(user: Any, contract_site: None) -> None:
    machine = schema.as_state_machine()
    if not machine.schema.statistic.transitions.total:
        pytest.skip("no operation's response feeds another (a single read-only operation)")

    class Workflow(machine):  # type: ignore[misc,valid-type]
        # Each scenario starts from the same (empty) database: what an earlier scenario created
        # would change what this one draws, which Hypothesis reports as flaky generation.
        def setup(self) -> None:
            self.scenario = transaction.atomic()
            self.scenario.__enter__()

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self.scenario.__exit__(None, None, None)

        def after_call(self, response: Any, case: schemathesis.Case[Any]) -> None:
            super().after_call(response, case)
            assert response.status_code not in REFUSED, (response.status_code, response.text)

    Workflow.run(
        settings=settings(
            HYPOTHESIS,
            max_examples=MAX_SCENARIOS,
            stateful_step_count=MAX_STEPS,
        )
    )
