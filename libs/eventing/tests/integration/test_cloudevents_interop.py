"""Events as clients we did not write see them: both CloudEvents SDK generations, real Debezium.

Each test publishes through the outbox, lets the real outbox connector (the configuration
``outbox_connector()`` generates) route the rows to Kafka, and parses *every* record the
outbox produced on the session's topic (other tests also produce hand-made records there,
with another source) with ``cloudevents.core.bindings.kafka.from_binary`` (SDK 2.x) and
``cloudevents.v1.kafka.from_binary`` (the 1.x API, still shipped), as a consumer in another
team would.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as ce2_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1 import kafka as ce1_kafka
from django.test import override_settings

from eventing.serialization.avro import AvroCodec
from eventing.tracing import parse, trace_context
from tests.integration.conftest import read_until
from tests.settings import EVENTING
from tests.testapp.events import ACCOUNT_STATE
from tests.testapp.services import account_open

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Every header an event carries, and nothing else (no `id`, no `__debezium.context.*`).
ENVELOPE = {
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "content-type",
    "ce_dataschema",
    "ce_partitionkey",
    "traceparent",
}


class AvroPassThrough(JSONFormat):
    """SDK 2.x needs a format for the data; ours is Avro, kept as the raw bytes."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        return body


def headers_of(message: Any) -> dict[str, bytes]:
    return dict(message.headers() or [])


def parse_with_both_sdks(message: Any) -> tuple[Any, Any]:
    headers = headers_of(message)
    sdk2 = ce2_kafka.from_binary(
        ce2_kafka.KafkaMessage(headers=headers, key=message.key(), value=message.value()),
        AvroPassThrough(),
    )
    sdk1 = ce1_kafka.from_binary(
        ce1_kafka.KafkaMessage(headers=headers, key=message.key(), value=message.value()),
        data_unmarshaller=lambda value: value,
    )
    return sdk2, sdk1


def test_every_event_parses_with_both_cloudevents_sdks(outbox_capture, live_schemas, kafka_reader) -> None:
    # Given one event published with no trace context and one inside an incoming trace
    untraced = account_open(owner="no-trace")
    incoming = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    with trace_context(incoming):
        traced = account_open(owner="traced")
    keys = {str(untraced.id).encode(), str(traced.id).encode()}
    # When every record of the topic so far is read back from Kafka
    messages = read_until(kafka_reader(ACCOUNT_STATE.topic), lambda ms: keys <= {m.key() for m in ms})
    codec = AvroCodec(live_schemas)
    from_outbox = [m for m in messages if headers_of(m).get("ce_source") == b"/eventing-tests"]
    assert keys <= {m.key() for m in from_outbox}
    for message in from_outbox:
        headers = headers_of(message)
        # Then each carries exactly the envelope, every header with a value...
        assert set(headers) == ENVELOPE, sorted(headers)
        assert all(value is not None for value in headers.values()), headers
        # ...and both SDK generations parse it into the same event
        sdk2, sdk1 = parse_with_both_sdks(message)
        assert sdk2.get_id() == sdk1["id"] == headers["ce_id"].decode()
        assert sdk2.get_type() == sdk1["type"] == ACCOUNT_STATE.type
        assert sdk2.get_source() == sdk1["source"] == "/eventing-tests"
        assert sdk2.get_datacontenttype() == sdk1["datacontenttype"] == "application/avro"
        assert sdk2.get_extension("partitionkey") == message.key().decode()
        assert sdk2.get_time() is not None and sdk1["time"]
        # the data is the Avro payload, and ce_dataschema names its writer schema portably
        schema_id = int.from_bytes(message.value()[1:5], "big")
        assert sdk2.get_dataschema() == sdk1["dataschema"] == f"urn:schema-registry:ids:{schema_id}"
        assert codec.decode(sdk2.get_data())["id"] == codec.decode(sdk1.get_data())["id"]
        assert parse(headers["traceparent"].decode()) is not None
    by_key = {m.key(): headers_of(m) for m in from_outbox}
    # The untraced event starts a trace of its own; the traced one continues the caller's
    untraced_parent = parse(by_key[str(untraced.id).encode()]["traceparent"].decode())
    traced_parent = parse(by_key[str(traced.id).encode()]["traceparent"].decode())
    assert untraced_parent is not None and traced_parent is not None
    assert traced_parent[0] == incoming.split("-")[1]
    assert untraced_parent[0] != traced_parent[0]


def test_dataschema_uses_the_public_registry_base(outbox_capture, live_schemas, kafka_reader) -> None:
    # Given a public registry base configured for ce_dataschema
    base = "https://registry.example.com/apis/ccompat/v7/"
    with override_settings(EVENTING={**EVENTING, "DATASCHEMA_BASE": base}):
        # When an event is published
        account = account_open(owner="public-schema")
    key = str(account.id).encode()
    messages = read_until(kafka_reader(ACCOUNT_STATE.topic), lambda ms: any(m.key() == key for m in ms))
    (message,) = [m for m in messages if m.key() == key]
    # Then its dataschema is the schema's URL under that base, which both SDKs read
    schema_id = int.from_bytes(message.value()[1:5], "big")
    expected = f"https://registry.example.com/apis/ccompat/v7/schemas/ids/{schema_id}"
    sdk2, sdk1 = parse_with_both_sdks(message)
    assert sdk2.get_dataschema() == sdk1["dataschema"] == expected
