"""Settings resolved from the environment: ports, attach mode, derived URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.errors import StackError
from stack.settings import Settings

pytestmark = pytest.mark.unit


def test_defaults_point_at_loopback_ports_under_the_repo() -> None:
    settings = Settings.from_env({})

    assert settings.paths.home.name == ".stack"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.schema_registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert settings.apicurio_v2_url == "http://127.0.0.1:8081/apis/registry/v2"
    assert settings.connect_url == "http://127.0.0.1:8083"
    assert settings.postgres.url("orders") == "postgresql://postgres:postgres@127.0.0.1:5432/orders"
    assert settings.all_databases == ("customer", "orders", "points", "registry")


def test_every_port_moves_with_its_variable(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "STACK_HOME": str(tmp_path),
            "POSTGRES_PORT": "15432",
            "KAFKA_PORT": "19092",
            "KAFKA_CONTROLLER_PORT": "19093",
            "SCHEMA_REGISTRY_PORT": "18081",
            "SCHEMA_REGISTRY_MANAGEMENT_PORT": "18091",
            "CONNECT_PORT": "18083",
            "CUSTOMERS_PORT": "18001",
            "ORDERS_PORT": "18002",
            "POINTS_PORT": "18003",
            "ORDERS_CONSUMER_METRICS_PORT": "19102",
            "POINTS_CONSUMER_METRICS_PORT": "19103",
        }
    )

    assert settings.paths.home == tmp_path
    assert dict(settings.ports) == {
        "postgres": 15432,
        "kafka": 19092,
        "kafka-controller": 19093,
        "registry": 18081,
        "registry-management": 18091,
        "connect": 18083,
        "customers": 18001,
        "orders": 18002,
        "points": 18003,
        "orders-consumer": 19102,
        "points-consumer": 19103,
    }
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.apicurio_v2_url == "http://127.0.0.1:18081/apis/registry/v2"


def test_a_port_that_is_not_a_number_is_a_clear_error() -> None:
    with pytest.raises(StackError, match="KAFKA_PORT='ninety' is not a TCP port"):
        Settings.from_env({"KAFKA_PORT": "ninety"})


def test_attach_variables_replace_our_servers() -> None:
    settings = Settings.from_env(
        {
            "POSTGRES_URL": "postgresql://app:s%40cret@db.internal:6543",
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "SCHEMA_REGISTRY_URL": "http://sr:8080/apis/ccompat/v7/",
            "CONNECT_URL": "http://connect:8083",
        }
    )

    assert (settings.postgres.host, settings.postgres.port) == ("db.internal", 6543)
    assert (settings.postgres.user, settings.postgres.password) == ("app", "s@cret")
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.apicurio_v2_url == "http://sr:8080/apis/registry/v2"
    assert settings.connect_url == "http://connect:8083"


def test_apicurio_url_override_wins_and_a_foreign_registry_url_needs_it() -> None:
    foreign = {"SCHEMA_REGISTRY_URL": "http://confluent:8081"}
    with pytest.raises(StackError, match="set APICURIO_REGISTRY_URL"):
        _ = Settings.from_env(foreign).apicurio_v2_url

    overridden = Settings.from_env({**foreign, "APICURIO_REGISTRY_URL": "http://a:1/apis/registry/v2"})
    assert overridden.apicurio_v2_url == "http://a:1/apis/registry/v2"


def test_a_malformed_postgres_url_is_a_clear_error() -> None:
    with pytest.raises(StackError, match="POSTGRES_URL"):
        Settings.from_env({"POSTGRES_URL": "mysql://x@y"})
