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


@pytest.mark.parametrize("raw", ["0", "65536", "-1", "80a", " 8080", "1e3"])
def test_out_of_range_or_malformed_ports_are_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(StackError) as raised:
        Settings.from_env({"ORDERS_PORT": raw})

    assert str(raised.value) == f"ORDERS_PORT={raw!r} is not a TCP port number (1-65535)"


@pytest.mark.parametrize("raw", ["1", "65535"])
def test_the_edges_of_the_port_range_are_accepted(raw: str) -> None:
    assert Settings.from_env({"CONNECT_PORT": raw}).ports["connect"] == int(raw)


def test_an_empty_port_variable_means_the_default() -> None:
    assert Settings.from_env({"KAFKA_PORT": ""}).ports["kafka"] == 9092


def test_stack_databases_is_a_comma_separated_list_ignoring_blanks() -> None:
    settings = Settings.from_env({"STACK_DATABASES": " orders, ,points ,"})

    assert settings.databases == ("orders", "points")
    assert settings.all_databases == ("orders", "points", "registry")


def test_java_home_and_postgres_bin_dir_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"JAVA_HOME": str(tmp_path / "jdk"), "POSTGRES_BIN_DIR": str(tmp_path / "pg")}
    )

    assert settings.java_home == tmp_path / "jdk"
    assert settings.postgres_bin == tmp_path / "pg"
    assert Settings.from_env({}).java_home is None
    assert Settings.from_env({}).postgres_bin == Path("/usr/lib/postgresql/15/bin")


def test_a_relative_stack_home_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({"STACK_HOME": "state"})

    assert settings.paths.home == tmp_path / "state"
    assert settings.paths.log("kafka") == tmp_path / "state" / "logs" / "kafka.log"
    assert settings.paths.pid("kafka") == tmp_path / "state" / "run" / "kafka.pid"
    assert (settings.paths.dist, settings.paths.data, settings.paths.conf) == (
        tmp_path / "state" / "dist",
        tmp_path / "state" / "data",
        tmp_path / "state" / "conf",
    )


def test_the_postgres_password_reaches_every_connection_form() -> None:
    target = Settings.from_env({"POSTGRES_PASSWORD": "pw", "POSTGRES_PORT": "15432"}).postgres

    assert target.conninfo() == (
        "host=127.0.0.1 port=15432 user=postgres password=pw dbname=postgres connect_timeout=3"
    )
    assert target.conninfo("orders").endswith("dbname=orders connect_timeout=3")
    assert target.url("points") == "postgresql://postgres:pw@127.0.0.1:15432/points"
    assert target.jdbc_url("registry") == "jdbc:postgresql://127.0.0.1:15432/registry"


def test_a_postgres_url_without_port_or_user_takes_the_defaults() -> None:
    target = Settings.from_env({"POSTGRES_URL": "postgres://db.internal"}).postgres

    assert (target.host, target.port, target.user, target.password) == ("db.internal", 5432, "postgres", "")


@pytest.mark.parametrize("raw", ["db.internal:5432", "postgresql://", "http://db:5432"])
def test_postgres_urls_without_scheme_or_host_are_refused(raw: str) -> None:
    with pytest.raises(StackError, match=r"is not a postgresql://user:password@host:port URL"):
        Settings.from_env({"POSTGRES_URL": raw})


def test_the_registry_base_url_strips_the_ccompat_suffix() -> None:
    assert Settings.from_env({}).registry_base_url == "http://127.0.0.1:8081"
    foreign = Settings.from_env({"SCHEMA_REGISTRY_URL": "http://confluent:8081/"})
    assert foreign.registry_base_url == "http://confluent:8081"
    assert foreign.schema_registry_url == "http://confluent:8081"


def test_environment_is_what_a_service_needs_and_follows_attach_mode() -> None:
    env = Settings.from_env(
        {"POSTGRES_URL": "postgresql://app:pw@db:6543", "SCHEMA_REGISTRY_URL": "http://sr/apis/ccompat/v7"}
    ).environment()

    assert env == {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "SCHEMA_REGISTRY_URL": "http://sr/apis/ccompat/v7",
        "APICURIO_REGISTRY_URL": "http://sr/apis/registry/v2",
        "CONNECT_URL": "http://127.0.0.1:8083",
        "POSTGRES_URL": "postgresql://app:pw@db:6543",
    }


def test_environment_of_a_foreign_registry_without_apicurio_url_is_a_clear_error() -> None:
    with pytest.raises(StackError, match="set APICURIO_REGISTRY_URL"):
        Settings.from_env({"SCHEMA_REGISTRY_URL": "http://confluent:8081"}).environment()
