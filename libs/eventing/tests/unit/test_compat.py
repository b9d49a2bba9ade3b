from __future__ import annotations

import pytest

from eventing.serialization.compat import explain

pytestmark = pytest.mark.unit

V1 = {
    "type": "record",
    "name": "Customer",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "count", "type": "int"},
        {"name": "status", "type": {"type": "enum", "name": "S", "symbols": ["A", "B"]}},
    ],
}


def with_fields(*fields: dict[str, object]) -> dict[str, object]:
    return {**V1, "fields": list(fields)}


def test_adding_a_field_with_a_default_is_backward_compatible() -> None:
    v2 = with_fields(*V1["fields"], {"name": "email", "type": "string", "default": ""})
    assert explain(V1, v2, "BACKWARD") == []


def test_adding_a_field_without_default_names_the_field_under_backward() -> None:
    v2 = with_fields(*V1["fields"], {"name": "email", "type": "string"})
    (message,) = explain(V1, v2, "BACKWARD")
    assert "'email'" in message and "no default" in message and "BACKWARD" in message


def test_removing_a_field_without_default_breaks_forward_only() -> None:
    v2 = with_fields(V1["fields"][0], V1["fields"][2])
    assert explain(V1, v2, "BACKWARD") == []
    (message,) = explain(V1, v2, "FORWARD")
    assert "'count'" in message and "FORWARD" in message


def test_type_promotion_is_allowed_but_narrowing_is_named() -> None:
    widened = with_fields(V1["fields"][0], {"name": "count", "type": "long"}, V1["fields"][2])
    assert explain(V1, widened, "BACKWARD") == []
    (message,) = explain(widened, V1, "BACKWARD")
    assert "/count" in message and "long" in message and "int" in message


def test_removed_enum_symbol_is_reported() -> None:
    v2 = with_fields(
        V1["fields"][0],
        V1["fields"][1],
        {"name": "status", "type": {"type": "enum", "name": "S", "symbols": ["A"]}},
    )
    (message,) = explain(V1, v2, "BACKWARD")
    assert "['B']" in message


def test_full_reports_both_directions() -> None:
    v2 = with_fields(V1["fields"][0], V1["fields"][2], {"name": "email", "type": "string"})
    messages = explain(V1, v2, "FULL_TRANSITIVE")
    assert any("BACKWARD" in m and "'email'" in m for m in messages)
    assert any("FORWARD" in m and "'count'" in m for m in messages)
