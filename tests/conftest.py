"""Fixtures shared by every test tier.

``stack`` brings the local stack up once per session (or checks the attached servers named by
``KAFKA_BOOTSTRAP_SERVERS``, ``SCHEMA_REGISTRY_URL``, ``CONNECT_URL``, ``POSTGRES_URL``) and
yields its :class:`stack.settings.Settings`. A stack that was already running is left running;
one this session started is stopped at the end unless ``STACK_KEEP_UP=1``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stack.settings import Settings
from stack.testing import stack_session


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The running stack's settings (endpoints, paths); see the module docstring."""
    yield from stack_session()
