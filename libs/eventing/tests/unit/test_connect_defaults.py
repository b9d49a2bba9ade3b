"""Connector definitions from settings (``eventing.connect.defaults``) and the config builders'
details a deployment depends on: names, the worker's view of the database, retention."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import override_settings

from eventing.connect.converters import ApicurioAvroConverter, avro_converter
from eventing.connect.debezium import (
    OUTBOX_HEADER_PLACEMENT,
    OUTBOX_PURGE_CHUNK,
    DatabaseEndpoint,
    outbox_connector,
    outbox_heartbeat_query,
)
from eventing.connect.defaults import outbox, table_capture
from eventing.exceptions import ConfigurationError
from eventing.outbox.models import OutboxEvent
from tests.settings import EVENTING

pytestmark = pytest.mark.unit

DB = DatabaseEndpoint("db", 5432, "orders", "postgres", "pw")


@pytest.fixture
def eventing(request: pytest.FixtureRequest) -> Any:
    def use(**settings: Any) -> None:
        overrides = override_settings(EVENTING={**EVENTING, **settings})
        overrides.enable()
        request.addfinalizer(overrides.disable)

    return use


@pytest.mark.parametrize(
    ("source", "name"),
    [("/orders", "orders-outbox"), ("/shop/orders/", "shop-orders-outbox"), ("billing", "billing-outbox")],
)
def test_the_outbox_connector_is_named_after_the_source(eventing: Any, source: str, name: str) -> None:
    eventing(SOURCE=source)
    connector = outbox()
    assert connector.name == name
    assert connector.config["slot.name"] == name.replace("-", "_")


@pytest.mark.parametrize("source", [None, "", "/"])
def test_without_a_source_the_outbox_connector_cannot_be_named(eventing: Any, source: str | None) -> None:
    eventing(SOURCE=source)
    with pytest.raises(ConfigurationError, match=r"EVENTING\['SOURCE'\] is required"):
        outbox()


def test_the_outbox_connector_purges_after_the_configured_retention(eventing: Any) -> None:
    eventing(OUTBOX_RETENTION=3600.9)
    query = outbox().config["heartbeat.action.query"]
    assert "interval '3600 seconds'" in query
    assert f"LIMIT {OUTBOX_PURGE_CHUNK}" in query


def test_the_worker_reaches_the_database_at_the_connect_database_address(eventing: Any) -> None:
    eventing(CONNECT_DATABASE_HOST="postgres", CONNECT_DATABASE_PORT=6543)
    config = outbox().config
    assert (config["database.hostname"], config["database.port"]) == ("postgres", "6543")
    capture = table_capture("orders-cdc", tables=["public.orders_order"], topic="cdc").config
    assert (capture["database.hostname"], capture["database.port"]) == ("postgres", "6543")


def test_without_a_connect_database_address_the_djangos_own_is_used(eventing: Any) -> None:
    from django.conf import settings

    eventing(CONNECT_DATABASE_HOST=None, CONNECT_DATABASE_PORT=None)
    config = outbox().config
    expected = settings.DATABASES["default"]
    assert config["database.hostname"] == expected["HOST"]
    assert config["database.port"] == str(expected["PORT"])
    assert config["database.dbname"] == expected["NAME"]


def test_an_endpoint_from_sparse_django_settings_gets_the_postgres_defaults() -> None:
    endpoint = DatabaseEndpoint.from_django(
        {"NAME": "orders", "HOST": "", "PORT": "", "USER": "", "PASSWORD": None}
    )
    assert endpoint == DatabaseEndpoint("127.0.0.1", 5432, "orders", "postgres", "")
    assert DatabaseEndpoint.from_django({"NAME": "o", "PORT": "6432"}).port == 6432


def test_every_cloudevents_column_of_the_outbox_becomes_a_header() -> None:
    placed = {entry.split(":")[0]: entry.split(":")[2] for entry in OUTBOX_HEADER_PLACEMENT.split(",")}
    routed = {"topic", "payload", "created_at"}  # the record's topic and value; retention
    columns = {f.column for f in OutboxEvent._meta.concrete_fields} - routed
    assert set(placed) == columns  # a new column without a header would be lost on the way
    assert all(p.split(":")[1] == "header" for p in OUTBOX_HEADER_PLACEMENT.split(","))
    assert placed["key"] == "ce_partitionkey" and placed["id"] == "ce_id"


def test_the_outbox_transform_applies_to_the_outbox_table_only() -> None:
    config = outbox_connector("orders-outbox", DB).config
    pattern = re.compile(config["predicates.isOutbox.pattern"])
    assert pattern.fullmatch("orders_outbox.public.eventing_outbox")
    assert not pattern.fullmatch("orders_outbox.public.eventing_heartbeat")
    assert not pattern.fullmatch("__debezium-heartbeat.orders_outbox")
    assert config["transforms.dropEventIdHeader.headers"] == "id"
    assert config["snapshot.mode"] == "no_data"  # past events are not re-sent on a new slot


def test_the_outbox_heartbeat_keeps_fractions_of_a_second_out_of_the_interval() -> None:
    assert "interval '86400 seconds'" in outbox_heartbeat_query(86400.0)
    assert "interval '0 seconds'" in outbox_heartbeat_query(0.4)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://reg:8080/apis/ccompat/v7", "http://reg:8080/apis/registry/v2"),
        ("http://reg:8080/apis/ccompat/v7/", "http://reg:8080/apis/registry/v2"),
        ("http://reg:8080", "http://reg:8080/apis/registry/v2"),
    ],
)
def test_the_apicurio_worker_url_is_derived_from_any_form_of_the_confluent_url(
    url: str, expected: str
) -> None:
    assert ApicurioAvroConverter().default_registry_url(url) == expected


def test_the_converter_setting_is_case_insensitive() -> None:
    assert avro_converter("Confluent").name == "confluent"
    assert avro_converter("APICURIO").name == "apicurio"
