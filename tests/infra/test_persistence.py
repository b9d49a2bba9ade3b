"""Data survives ``down``/``up``: a topic's messages and the registry's schemas."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from stack import api
from stack.settings import Settings
from stack.testing import unique_name
from tests.infra.helpers import consume, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_down_then_up_keeps_topic_messages_and_registry_schemas(
    stack: Settings, registry_client: SchemaRegistryClient, topics: list[str]
) -> None:
    # Given a topic with messages (one key: one partition, so one order) and a registered schema
    topic = unique_name("stack_persist")
    topics.append(topic)
    values = [f"{topic}-{i}".encode() for i in range(3)]
    for value in values:
        produce(stack, topic, value, key=b"same-key")
    schema_str = json.dumps({"type": "record", "name": topic, "fields": [{"name": "x", "type": "int"}]})
    schema_id = registry_client.register_schema(f"{topic}-value", Schema(schema_str, "AVRO"))

    # When the whole stack goes down and comes back up
    api.down()
    assert not any(status.state == "up" for status in api.status())
    api.up()

    # Then the messages are still there, in order
    assert [m.value() for m in consume(stack, topic, 3)] == values
    # and the schema keeps its id
    fresh = SchemaRegistryClient({"url": stack.schema_registry_url})
    assert json.loads(fresh.get_schema(schema_id).schema_str or "") == json.loads(schema_str)
    assert fresh.get_latest_version(f"{topic}-value").schema_id == schema_id
