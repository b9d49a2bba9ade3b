"""``eventing_settings``: defaults, typed values, reloads under ``override_settings``, typos fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from eventing.conf import DEFAULTS, EventingSettings, eventing_settings, type_problems
from tests.settings import EVENTING

pytestmark = pytest.mark.unit


def test_an_unset_key_is_its_default_and_a_set_key_the_users_value() -> None:
    settings = EventingSettings({"CONSUMER_BATCH_SIZE": 7})
    assert settings.CONSUMER_BATCH_SIZE == 7
    assert settings.DEAD_LETTER_TOPIC == "{group}.{topic}.dlt"
    assert settings.CONSUMER_MIDDLEWARE == ["eventing.metrics.MetricsMiddleware"]


def test_a_misspelt_setting_name_raises_naming_it() -> None:
    with pytest.raises(AttributeError, match="Unknown eventing setting 'CONSUMER_BATCH_SIZ'"):
        _ = EventingSettings({}).CONSUMER_BATCH_SIZ


def test_no_eventing_setting_at_all_means_every_default() -> None:
    with override_settings(EVENTING=None):
        assert eventing_settings.user_settings == {}
        assert DEFAULTS["SCHEMA_REGISTRY_URL"] == eventing_settings.SCHEMA_REGISTRY_URL
        assert eventing_settings.SOURCE is None


def test_kafka_config_layers_bootstrap_servers_then_kafka_config_then_overrides() -> None:
    settings = EventingSettings(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9092",
            "KAFKA_CONFIG": {"security.protocol": "SSL", "client.id": "from-settings"},
        }
    )
    assert settings.kafka_config(**{"client.id": "override", "group.id": "g"}) == {
        "bootstrap.servers": "kafka-1:9092,kafka-2:9092",
        "security.protocol": "SSL",
        "client.id": "override",
        "group.id": "g",
    }
    # KAFKA_CONFIG may even replace the bootstrap servers (e.g. a SASL listener).
    assert EventingSettings({"KAFKA_CONFIG": {"bootstrap.servers": "sasl:9094"}}).kafka_config() == {
        "bootstrap.servers": "sasl:9094"
    }


def test_kafka_config_is_a_fresh_dict_each_time() -> None:
    settings = EventingSettings({"KAFKA_CONFIG": {"acks": "all"}})
    settings.kafka_config()["acks"] = "0"
    assert settings.kafka_config()["acks"] == "all"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("/srv/schemas", Path("/srv/schemas"))]
)
def test_schema_root_is_a_path_or_none(value: str | None, expected: Path | None) -> None:
    assert EventingSettings({"SCHEMA_ROOT": value}).schema_root() == expected


def test_override_settings_reloads_every_key_and_reverts() -> None:
    assert EVENTING["SOURCE"] == eventing_settings.SOURCE  # cached before the override
    with override_settings(EVENTING={**EVENTING, "SOURCE": "/other", "TOPIC_PARTITIONS": 12}):
        assert eventing_settings.SOURCE == "/other"
        assert eventing_settings.TOPIC_PARTITIONS == 12
        assert eventing_settings.kafka_config()["bootstrap.servers"] == EVENTING["KAFKA_BOOTSTRAP_SERVERS"]
    assert EVENTING["SOURCE"] == eventing_settings.SOURCE
    assert DEFAULTS["TOPIC_PARTITIONS"] == eventing_settings.TOPIC_PARTITIONS


def test_overriding_another_setting_keeps_the_cache() -> None:
    with override_settings(EVENTING={**EVENTING, "SOURCE": "/cached"}):
        assert eventing_settings.SOURCE == "/cached"
        with override_settings(TIME_ZONE="Europe/Paris"):
            assert eventing_settings.SOURCE == "/cached"


# -- type_problems (system check eventing.E009) -----------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CONSUMER_GROUPS", ("points.read-model", "points.audit")),  # a tuple is a list
        ("SCHEMA_ROOT", Path("/srv/schemas")),  # a Path is a str
        ("OUTBOX_RETENTION", 3600),  # an int is a float
        ("CONNECT_DATABASE_PORT", None),  # optional
        ("CONNECT_DATABASE_PORT", 5433),
        ("KAFKA_CONFIG", {"acks": "all", "linger.ms": 5}),
    ],
)
def test_values_of_the_declared_type_or_a_compatible_one_pass(key: str, value: object) -> None:
    assert type_problems({key: value}) == {}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("CREATE_TOPICS", 1, "bool"),  # 1 is not True
        ("TOPIC_PARTITIONS", True, "int"),  # True is not 1
        ("CONSUMER_POLL_TIMEOUT", False, "float"),
        ("CONSUMER_GROUPS", ["points", 3], "list[str]"),
        ("KAFKA_CONFIG", {1: "x"}, "dict[str, Any]"),
        ("CONNECT_DATABASE_HOST", 10, "str | None"),
        ("KAFKA_BOOTSTRAP_SERVERS", None, "str"),  # required: None is not allowed
    ],
)
def test_a_wrong_type_is_named_with_the_key_the_type_and_the_value(
    key: str, value: object, expected: str
) -> None:
    assert type_problems({key: value}) == {key: f"EVENTING[{key!r}] must be {expected}, got {value!r}"}


def test_unknown_and_skipped_keys_are_left_to_other_checks() -> None:
    assert type_problems({"NOT_A_SETTING": object()}) == {}
    assert type_problems({"CREATE_TOPICS": "yes"}, skip=frozenset({"CREATE_TOPICS"})) == {}


def test_every_problem_is_reported_not_only_the_first() -> None:
    problems = type_problems({"CREATE_TOPICS": "yes", "TOPIC_PARTITIONS": "3", "SOURCE": "/ok"})
    assert sorted(problems) == ["CREATE_TOPICS", "TOPIC_PARTITIONS"]
