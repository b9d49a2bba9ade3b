"""The points API keeps its OpenAPI contract: schemathesis, every check, in-process on the test
database (``chassis.testing.api_contract``)."""

from __future__ import annotations

from chassis.testing.api_contract import *  # noqa: F403
