"""Test support shared by the services: fixtures and the operational contract suites.

Needs the ``testing`` extra (pytest, pytest-django). The contract modules are registered for
pytest's assertion rewriting here, before a service's test module imports them, so their
failed asserts explain themselves like those of a test file.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite(
    "chassis.testing.api_contract", "chassis.testing.site_contract", "chassis.testing.consumer_contract"
)
