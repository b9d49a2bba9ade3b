"""The translator's event ids: stable per change, and exactly RFC 4122 uuid5s."""

from __future__ import annotations

import uuid

import pytest

from orders.handlers import TRANSLATION_NAMESPACE, cdc_event_id, uuid5_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "name",
    ["", "0/0/c", "123456789/6b1f8e2e-4a4f-4c0e-9d6e-0c5f1e2a3b4c/u", "ünïcode/✓/d", "x" * 500],
)
def test_uuid5_text_is_the_standard_uuid5(name: str) -> None:
    assert uuid5_text(name) == str(uuid.uuid5(TRANSLATION_NAMESPACE, name))


def test_the_same_change_gets_the_same_id_and_another_change_another() -> None:
    row = {"__lsn": 42, "id": str(uuid.uuid4()), "__op": "c"}
    assert cdc_event_id(row, None) == cdc_event_id(dict(row), None)
    assert cdc_event_id(row, None) != cdc_event_id({**row, "__op": "u"}, None)
    assert cdc_event_id(row, None) != cdc_event_id({**row, "__lsn": 43}, None)
    assert uuid.UUID(cdc_event_id(row, None)).version == 5


def test_a_tombstone_has_no_id() -> None:
    with pytest.raises(ValueError, match="tombstone"):
        cdc_event_id(None, None)
