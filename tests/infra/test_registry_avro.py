"""Avro through the registry's Confluent-compatible API, and schema ids across a restart."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from stack import api
from stack.settings import Settings
from stack.testing import unique_name
from tests.infra.helpers import consume, produce

pytestmark = pytest.mark.integration


def widget_schema(name: str) -> str:
    """An Avro record schema with a unique name (so each test registers new content)."""
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "stack.test",
            "fields": [{"name": "id", "type": "string"}, {"name": "qty", "type": "int"}],
        }
    )


def test_avro_round_trip_and_schema_id_survive_a_registry_restart(
    stack: Settings, registry_client: SchemaRegistryClient, topics: list[str]
) -> None:
    # Given a message serialized with a schema auto-registered through the ccompat API
    topic = unique_name("stack_avro")
    topics.append(topic)
    schema_str = widget_schema(topic)
    context = SerializationContext(topic, MessageField.VALUE)
    value = {"id": topic, "qty": 7}
    payload = AvroSerializer(registry_client, schema_str)(value, context)
    assert payload is not None
    assert payload[0] == 0, "Confluent framing: magic byte 0"
    schema_id = int.from_bytes(payload[1:5], "big")

    # When it is produced and consumed
    produce(stack, topic, payload)
    [message] = consume(stack, topic, 1)

    # Then it decodes to the value written
    assert AvroDeserializer(registry_client)(message.value(), context) == value

    # When the registry restarts
    api.restart("registry")

    # Then the same id resolves to the same schema and the old message still decodes
    fresh = SchemaRegistryClient({"url": stack.schema_registry_url})
    assert json.loads(fresh.get_schema(schema_id).schema_str or "") == json.loads(schema_str)
    assert AvroDeserializer(fresh)(message.value(), context) == value
    assert fresh.get_latest_version(f"{topic}-value").schema_id == schema_id
