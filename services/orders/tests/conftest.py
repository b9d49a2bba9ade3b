from __future__ import annotations

# API clients (``api``, ``anonymous_api``), the ``user`` behind ``api``, fast password hashing.
pytest_plugins = ["chassis.testing.fixtures"]
