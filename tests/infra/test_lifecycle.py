"""The Python API fault tests build on: ``stopped()``, and attach mode over running servers."""

from __future__ import annotations

import re

import pytest

from stack import api
from stack.errors import StackError
from stack.settings import CCOMPAT_SUFFIX, Settings

pytestmark = pytest.mark.integration

SERVERS = ("postgres", "kafka", "registry", "connect")
"""The infrastructure servers (the services are components too, but not these tests' subject)."""


def test_stopped_stops_one_component_and_starts_it_again(stack: Settings) -> None:
    # When the registry is stopped for the duration of a block
    with api.stopped("registry"):
        # Then only it is down
        states = {s.name: s.state for s in api.status(SERVERS)}
        assert states == {"postgres": "up", "kafka": "up", "registry": "down", "connect": "up"}

    # and afterwards it is up and healthy again
    [registry] = api.status(["registry"])
    assert registry.state == "up"
    assert registry.health is None


def test_attach_mode_uses_existing_servers_without_starting_or_stopping_them(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every attach variable pointing at already running servers
    pg = stack.postgres
    monkeypatch.setenv("POSTGRES_URL", f"postgresql://{pg.user}:{pg.password}@{pg.host}:{pg.port}")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", stack.kafka_bootstrap_servers)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", stack.schema_registry_url)
    monkeypatch.setenv("CONNECT_URL", stack.connect_url)

    # When the stack is brought up and down
    statuses = api.up(SERVERS)
    api.down(SERVERS)

    # Then every component was used as an external server
    assert {s.name: s.state for s in statuses} == dict.fromkeys(SERVERS, "external")
    assert Settings.from_env().schema_registry_url.endswith(CCOMPAT_SUFFIX)
    # and nothing was stopped
    monkeypatch.delenv("POSTGRES_URL")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS")
    monkeypatch.delenv("SCHEMA_REGISTRY_URL")
    monkeypatch.delenv("CONNECT_URL")
    assert {s.state for s in api.status(SERVERS)} == {"up"}


def test_attach_to_an_unreachable_server_is_a_clear_error(
    stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECT_URL", "http://127.0.0.1:9")

    with pytest.raises(StackError, match=re.escape("CONNECT_URL=http://127.0.0.1:9 is not reachable")):
        api.up(["connect"])
