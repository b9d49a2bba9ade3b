from __future__ import annotations

import pytest

from eventing.connect.debezium import DatabaseEndpoint, outbox_connector, table_capture_connector

pytestmark = pytest.mark.unit

DB = DatabaseEndpoint(host="127.0.0.1", port=5432, dbname="customer", user="postgres", password="pw")


def test_outbox_connector_routes_by_topic_column_and_places_cloudevents_headers() -> None:
    config = outbox_connector("customers-outbox", DB).config
    assert config["transforms.outbox.type"] == "io.debezium.transforms.outbox.EventRouter"
    assert config["transforms.outbox.route.by.field"] == "topic"
    assert config["transforms.outbox.route.topic.replacement"] == "${routedByValue}"
    placement = config["transforms.outbox.table.fields.additional.placement"].split(",")
    for header in (
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "ce_specversion",
        "content-type",
        "traceparent",
    ):
        assert any(p.endswith(f":header:{header}") for p in placement), header
    assert config["value.converter"] == "io.debezium.converters.BinaryDataConverter"
    assert config["tombstones.on.delete"] == "false"


def test_every_connector_has_a_heartbeat_that_writes_the_database() -> None:
    for connector in (
        outbox_connector("a-outbox", DB),
        table_capture_connector("a-cdc", DB, tables=["public.t"], topic="private_t", registry_url="http://r"),
    ):
        assert int(connector.config["heartbeat.interval.ms"]) > 0
        assert "eventing_heartbeat" in connector.config["heartbeat.action.query"]
        assert "public.eventing_heartbeat" in connector.config["table.include.list"]
        # ...and the heartbeat table's change records never reach a topic
        assert "dropHeartbeats" in connector.config["transforms"].split(",")


def test_slot_and_publication_names_are_safe_identifiers() -> None:
    config = outbox_connector("Orders-Outbox.v2", DB).config
    assert config["slot.name"] == "orders_outbox_v2"
    assert config["publication.name"] == "orders_outbox_v2_pub"


def test_table_capture_flattens_and_routes_to_one_topic() -> None:
    config = table_capture_connector(
        "orders-cdc",
        DB,
        tables=["public.orders_order"],
        topic="private_orders_order_cdc",
        registry_url="http://r/apis/registry/v2",
    ).config
    assert config["transforms.route.replacement"] == "private_orders_order_cdc"
    assert config["transforms.unwrap.type"] == "io.debezium.transforms.ExtractNewRecordState"
    assert "lsn" in config["transforms.unwrap.add.fields"]
    assert config["value.converter.apicurio.registry.url"] == "http://r/apis/registry/v2"
    # Confluent framing with content ids: what Python's deserializer resolves via /schemas/ids/
    assert config["value.converter.apicurio.registry.as-confluent"] == "true"
    assert config["value.converter.apicurio.registry.use-id"] == "contentId"


def test_table_capture_routes_table_records_but_not_debeziums_own_heartbeats() -> None:
    import re

    config = table_capture_connector(
        "orders-cdc",
        DB,
        tables=["public.orders_order"],
        topic="private_orders_order_cdc",
        registry_url="http://r",
    ).config
    route = re.compile(config["transforms.route.regex"])
    assert route.fullmatch("orders_cdc.public.orders_order")
    assert not route.fullmatch("__debezium-heartbeat.orders_cdc")


# The Avro converter of table captures is one setting (eventing.connect.converters).


def capture_with(converter: str, **settings: object) -> dict[str, str]:
    from django.test import override_settings

    from eventing.connect.defaults import table_capture
    from tests.settings import EVENTING

    overrides = {**EVENTING, "CONNECT_AVRO_CONVERTER": converter, **settings}
    with override_settings(EVENTING=overrides):
        return table_capture("orders-cdc", tables=["public.orders_order"], topic="cdc").config


def test_the_apicurio_converter_talks_to_the_v2_api_derived_from_the_confluent_url() -> None:
    config = capture_with("apicurio", SCHEMA_REGISTRY_URL="http://reg:8080/apis/ccompat/v7")
    assert config["value.converter"] == "io.apicurio.registry.utils.converter.AvroConverter"
    assert config["value.converter.apicurio.registry.url"] == "http://reg:8080/apis/registry/v2"
    assert config["value.converter.apicurio.registry.use-id"] == "contentId"
    assert config["value.converter.apicurio.registry.as-confluent"] == "true"
    assert not any(key.startswith("value.converter.schema.registry") for key in config)


def test_the_confluent_converter_talks_to_the_schema_registry_url() -> None:
    config = capture_with("confluent", SCHEMA_REGISTRY_URL="http://sr:8081/")
    assert config["value.converter"] == "io.confluent.connect.avro.AvroConverter"
    assert config["value.converter.schema.registry.url"] == "http://sr:8081"
    assert config["value.converter.auto.register.schemas"] == "true"
    assert not any("apicurio" in key for key in config)
    # ...and everything that is not the converter is the same connector
    apicurio = capture_with("apicurio")
    same = {k: v for k, v in config.items() if not k.startswith("value.converter")}
    assert same == {k: v for k, v in apicurio.items() if not k.startswith("value.converter")}


def test_an_explicit_worker_registry_url_wins() -> None:
    config = capture_with("confluent", CONNECT_REGISTRY_URL="http://sr.internal:8081")
    assert config["value.converter.schema.registry.url"] == "http://sr.internal:8081"


def test_an_unknown_converter_is_refused_with_the_choices() -> None:
    from eventing.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="apicurio, confluent"):
        capture_with("avro-magic")


def test_the_doctor_probes_the_registry_each_converter_talks_to() -> None:
    from eventing.connect.converters import strategy_of

    apicurio, confluent = capture_with("apicurio"), capture_with("confluent")
    assert strategy_of(apicurio).probe_path() == "/system/info"  # type: ignore[union-attr]
    assert strategy_of(confluent).registry_url_of(confluent) == "http://127.0.0.1:8081/apis/ccompat/v7"  # type: ignore[union-attr]
    assert strategy_of({"value.converter": "org.apache.kafka.connect.json.JsonConverter"}) is None
