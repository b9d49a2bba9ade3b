"""The event envelope: which headers a record carries and what they hold (ADR 0011)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from eventing.checks import check_settings
from eventing.connect.debezium import DatabaseEndpoint, outbox_connector, table_capture_connector
from eventing.outbox.publish import dataschema
from eventing.tracing import current_traceparent, new_root, parse
from tests.settings import EVENTING

pytestmark = pytest.mark.unit

DB = DatabaseEndpoint(host="127.0.0.1", port=5432, dbname="customer", user="postgres", password="pw")


def test_outbox_connector_drops_the_event_id_header_and_debezium_context_headers() -> None:
    config = outbox_connector("customers-outbox", DB).config
    transforms = config["transforms"].split(",")
    # the `id` header is removed after the EventRouter added it
    assert transforms.index("dropEventIdHeader") > transforms.index("outbox")
    assert config["transforms.dropEventIdHeader.type"] == "org.apache.kafka.connect.transforms.DropHeaders"
    assert config["transforms.dropEventIdHeader.headers"] == "id"
    for connector in (
        outbox_connector("a-outbox", DB),
        table_capture_connector("a-cdc", DB, tables=["public.t"], topic="private_t", registry_url="http://r"),
    ):
        assert connector.config["extended.headers.enabled"] == "false"


def test_dataschema_names_the_schema_id_without_a_host_by_default() -> None:
    assert dataschema(42) == "urn:schema-registry:ids:42"


def test_dataschema_is_a_url_under_the_configured_public_base() -> None:
    with override_settings(EVENTING={**EVENTING, "DATASCHEMA_BASE": "https://registry.example.com/ccompat/"}):
        assert dataschema(42) == "https://registry.example.com/ccompat/schemas/ids/42"


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:8081/apis/ccompat/v7", "localhost:8081", "ftp://r.example"]
)
def test_a_dataschema_base_other_hosts_cannot_resolve_is_refused(base: str) -> None:
    with override_settings(EVENTING={**EVENTING, "DATASCHEMA_BASE": base}):
        errors = [m for m in check_settings() if m.id == "eventing.E007"]
    assert errors and base in errors[0].msg


def test_an_event_without_incoming_trace_starts_a_new_trace() -> None:
    # Given no trace context, nothing to continue
    assert current_traceparent() is None
    # When a root is made for the event, it is a valid, unsampled traceparent of a new trace
    first, second = new_root(), new_root()
    assert parse(first) is not None and first.endswith("-00")
    assert parse(first)[0] != parse(second)[0]  # type: ignore[index]
