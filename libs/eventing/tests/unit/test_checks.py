"""Each system check of ``settings.EVENTING``: a bad value is reported under its id, a good one is not.

``manage.py check`` (and every management command, and the servers at start) runs these, so a
misconfiguration is named before the service handles anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from eventing.checks import check_settings
from eventing.events import EventType, catalog
from tests.settings import EVENTING

pytestmark = pytest.mark.unit


def ids(**overrides: Any) -> list[str]:
    with override_settings(EVENTING={**EVENTING, **overrides}):
        return [message.id for message in check_settings() if message.id]


def test_the_test_settings_pass_every_check() -> None:
    assert ids() == []


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"CONSUMER_BATCH_SIZ": 10}, "eventing.E001"),  # a typo of a key
        ({"SCHEMA_COMPATIBILITY": "SOMETIMES"}, "eventing.E002"),
        ({"CONSUMER_BATCH_SIZE": 0}, "eventing.E005"),
        ({"CONSUMER_BATCH_SIZE": "100"}, "eventing.E005"),
        ({"CONSUMER_MAX_ATTEMPTS": -1}, "eventing.E005"),
        ({"OUTBOX_DELETE_AFTER_INSERT": True}, "eventing.W001"),
        ({"OUTBOX_RETENTION": 0}, "eventing.E006"),
        ({"OUTBOX_RETENTION": "1 day"}, "eventing.E006"),
        ({"DATASCHEMA_BASE": "http://127.0.0.1:8081/apis/ccompat/v7"}, "eventing.E007"),
        ({"DATASCHEMA_BASE": "registry.example.com"}, "eventing.E007"),
        ({"CONSUMER_MIDDLEWARE": ["eventing.no_such_module.Middleware"]}, "eventing.E020"),
        ({"CONSUMER_METRICS_PORT": 70000}, "eventing.E021"),
        ({"CONSUMER_METRICS_PORT": True}, "eventing.E021"),
        ({"CONNECTORS": ["eventing.connect.no_such_module.connectors"]}, "eventing.E022"),
        ({"CONNECTORS": ["tests.unit.test_checks.no_such_factory"]}, "eventing.E022"),
        ({"CONNECTORS": "tests.unit.test_checks.no_connectors"}, "eventing.E022"),  # a str, not a list
    ],
)
def test_a_bad_setting_is_reported_under_its_id(overrides: dict[str, Any], check_id: str) -> None:
    assert ids(**overrides) == [check_id]


@pytest.mark.parametrize(
    "overrides",
    [
        {"DATASCHEMA_BASE": "https://registry.example.com/apis/ccompat/v7"},
        {"CONSUMER_METRICS_PORT": None},
        {"CONSUMER_METRICS_PORT": 0},
        {"OUTBOX_RETENTION": 3600.5},
        {"CONNECTORS": ["tests.unit.test_checks.no_connectors"]},
    ],
)
def test_a_good_value_passes(overrides: dict[str, Any]) -> None:
    assert ids(**overrides) == []


def no_connectors() -> list[object]:
    """A CONNECTORS factory (importable; the check does not call it)."""
    return []


def test_an_unimportable_connector_factory_is_named_with_the_reason() -> None:
    with override_settings(EVENTING={**EVENTING, "CONNECTORS": ["tests.unit.test_checks.missing"]}):
        (message,) = check_settings()
    assert message.id == "eventing.E022"
    assert "'tests.unit.test_checks.missing'" in message.msg and "does not define" in message.msg


@pytest.fixture
def declared() -> Iterator[list[EventType]]:
    """Event types added to the catalog by a test, removed again afterwards."""
    added: list[EventType] = []
    yield added
    for event_type in added:
        catalog._by_type.pop(event_type.type, None)


def test_an_owned_event_type_needs_a_source() -> None:
    assert any(event_type.owned for event_type in catalog)  # the test app publishes
    assert ids(SOURCE="") == ["eventing.E003"]


def test_an_event_type_whose_schema_cannot_be_read_is_reported(declared: list[EventType]) -> None:
    broken = EventType(type="checks_missing_schema", topic="t", schema="nowhere/Missing.avsc", owned=False)
    declared.append(catalog.add(broken))
    assert ids() == ["eventing.E004"]


def test_the_settings_accessor_follows_override_settings_and_reverts() -> None:
    from eventing.conf import DEFAULTS, eventing_settings

    before = eventing_settings.CONSUMER_BATCH_SIZE
    with override_settings(EVENTING={**EVENTING, "CONSUMER_BATCH_SIZE": before + 7}):
        assert before + 7 == eventing_settings.CONSUMER_BATCH_SIZE
        assert DEFAULTS["INBOX_RETENTION"] == eventing_settings.INBOX_RETENTION  # unset: the default
    assert before == eventing_settings.CONSUMER_BATCH_SIZE


def test_an_unknown_connect_avro_converter_is_reported() -> None:
    assert ids(CONNECT_AVRO_CONVERTER="protobuf") == ["eventing.E008"]
    assert ids(CONNECT_AVRO_CONVERTER="Confluent") == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CREATE_TOPICS", "yes"),
        ("CONSUMER_POLL_TIMEOUT", "0.5"),
        ("TOPIC_PARTITIONS", 3.0),
        ("KAFKA_CONFIG", [("acks", "all")]),
        ("CONSUMER_GROUPS", "points.read-model"),  # a string, not a list of them
        ("CONNECT_DATABASE_PORT", "5432"),
        ("SOURCE", 42),
    ],
)
def test_a_value_of_the_wrong_type_is_reported_naming_the_key_and_the_type(key: str, value: object) -> None:
    with override_settings(EVENTING={**EVENTING, key: value}):
        (message,) = [m for m in check_settings() if m.id == "eventing.E009"]
    assert key in message.msg and "must be" in message.msg


def test_every_setting_has_a_declared_type_its_default_satisfies() -> None:
    from eventing.conf import DEFAULTS, EventingSettings, type_problems

    assert set(EventingSettings.__annotations__) == set(DEFAULTS)
    assert type_problems(DEFAULTS) == {}
