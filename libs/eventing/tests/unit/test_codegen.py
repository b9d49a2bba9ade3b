"""The record generator (eventing.codegen): .avsc files -> typed dataclasses."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import subprocess
import sys
import typing
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from eventing import codegen
from eventing.exceptions import ConfigurationError

pytestmark = pytest.mark.unit

SHIPMENT = {
    "type": "record",
    "name": "ShipmentState",
    "namespace": "io.example.shipping",
    "doc": "A shipment.",
    "fields": [
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "Shipment id."},
        {"name": "sent_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "due", "type": {"type": "int", "logicalType": "date"}},
        {"name": "parcels", "type": "long"},
        {"name": "weight", "type": "double"},
        {"name": "fragile", "type": "boolean"},
        {"name": "labels", "type": {"type": "array", "items": "string"}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "carrier", "type": "string", "default": "post"},
        {"name": "version", "type": "long"},
    ],
}


def contracts(tmp_path: Path, *schemas: tuple[str, dict[str, Any]]) -> Path:
    root = tmp_path / "avro"
    for relative, schema in schemas:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2))
    return root


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"generated_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through it
    spec.loader.exec_module(module)
    return module


def test_each_avro_type_becomes_the_python_type_fastavro_reads(tmp_path: Path) -> None:
    root = contracts(tmp_path, ("shipping/ShipmentState.avsc", SHIPMENT))
    codegen.write(root, tmp_path / "pkg")

    cls = load(tmp_path / "pkg" / "shipping.py").ShipmentState
    hints = typing.get_type_hints(cls)

    assert [f.name for f in dataclasses.fields(cls)] == [f["name"] for f in SHIPMENT["fields"]]
    assert hints == {
        "id": uuid.UUID,
        "sent_at": datetime.datetime,
        "due": datetime.date,
        "parcels": int,
        "weight": float,
        "fragile": bool,
        "labels": list[str],
        "note": str | None,
        "carrier": str,
        "version": int,
        "AVRO_NAME": typing.ClassVar[str],
        "AVRO_SCHEMA": typing.ClassVar[str],
    }
    assert cls.AVRO_NAME == "io.example.shipping.ShipmentState"
    assert cls.AVRO_SCHEMA == "shipping/ShipmentState.avsc"


def test_records_are_frozen_slotted_keyword_only_with_the_schema_defaults(tmp_path: Path) -> None:
    root = contracts(tmp_path, ("shipping/ShipmentState.avsc", SHIPMENT))
    codegen.write(root, tmp_path / "pkg")
    cls = load(tmp_path / "pkg" / "shipping.py").ShipmentState
    now = datetime.datetime.now(datetime.UTC)
    values = {
        "id": uuid.uuid4(),
        "sent_at": now,
        "due": now.date(),
        "parcels": 2,
        "weight": 1.5,
        "fragile": False,
        "labels": ["a"],
        "version": 1,
    }

    record = cls(**values)

    assert (record.note, record.carrier) == (None, "post")
    assert not hasattr(record, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.parcels = 3
    with pytest.raises(TypeError):
        cls(*values.values())


def test_output_is_deterministic_ruff_clean_and_reexported(tmp_path: Path) -> None:
    order = {"type": "record", "name": "OrderState", "fields": [{"name": "id", "type": "string"}]}
    root = contracts(tmp_path, ("shipping/ShipmentState.avsc", SHIPMENT), ("order/OrderState.avsc", order))

    first = codegen.render(root)
    assert codegen.render(root) == first
    assert sorted(first) == ["__init__.py", "order.py", "py.typed", "shipping.py"]
    assert "from event_contracts.order import OrderState" in first["__init__.py"]
    assert '__all__ = ["OrderState", "ShipmentState"]' in first["__init__.py"]

    out = tmp_path / "pkg"
    codegen.write(root, out)
    checked = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--line-length", "110", str(out)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_check_reports_a_class_that_drifted_from_its_schema(tmp_path: Path) -> None:
    root = contracts(tmp_path, ("shipping/ShipmentState.avsc", SHIPMENT))
    out = tmp_path / "pkg"
    codegen.write(root, out)
    assert codegen.drift(root, out) == []
    assert codegen.main([str(root), "--out", str(out), "--check"]) == 0

    # When the schema gains a field but the class is not regenerated
    grown = {**SHIPMENT, "fields": [*SHIPMENT["fields"], {"name": "insured", "type": "boolean"}]}
    (root / "shipping" / "ShipmentState.avsc").write_text(json.dumps(grown))

    (problem,) = codegen.drift(root, out)
    assert "shipping.py" in problem
    assert "+    insured: bool" in problem
    assert codegen.main([str(root), "--out", str(out), "--check"]) == 1

    # And regenerating fixes it
    assert codegen.write(root, out) == [out / "shipping.py"]
    assert codegen.drift(root, out) == []


def test_a_removed_contract_removes_its_generated_module(tmp_path: Path) -> None:
    order = {"type": "record", "name": "OrderState", "fields": [{"name": "id", "type": "string"}]}
    root = contracts(tmp_path, ("shipping/ShipmentState.avsc", SHIPMENT), ("order/OrderState.avsc", order))
    out = tmp_path / "pkg"
    codegen.write(root, out)
    (out / "hand_written.py").write_text("X = 1\n")

    (root / "order" / "OrderState.avsc").unlink()

    assert any("order.py" in p for p in codegen.drift(root, out))
    codegen.write(root, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "__init__.py",
        "hand_written.py",
        "py.typed",
        "shipping.py",
    ]


@pytest.mark.parametrize(
    "field_type",
    [
        {"type": "record", "name": "Nested", "fields": []},
        {"type": "enum", "name": "Colour", "symbols": ["RED"]},
        ["null", "string", "long"],
        "SomeNamedType",
    ],
)
def test_unsupported_types_are_refused_with_the_field_named(tmp_path: Path, field_type: Any) -> None:
    schema = {"type": "record", "name": "Bad", "fields": [{"name": "odd", "type": field_type}]}
    root = contracts(tmp_path, ("bad/Bad.avsc", schema))

    with pytest.raises(ConfigurationError, match="'odd'"):
        codegen.render(root)
