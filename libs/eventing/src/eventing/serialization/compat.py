"""Explaining Avro compatibility failures field by field.

The registry decides whether a schema is compatible; some registries (Apicurio's Confluent
API among them) answer only ``is_compatible: false``. :func:`explain` says *which field
broke what*, following the Avro schema resolution rules: a reader can read data from a
writer when every reader field exists in the writer (with a promotable type) or has a
default, enum symbols are covered, and named types match.
"""

from __future__ import annotations

import json
from typing import Any

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def _load(schema: str | dict[str, Any] | list[Any]) -> Any:
    return json.loads(schema) if isinstance(schema, str) else schema


def _type_name(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    return str(schema.get("type"))


def _describe(schema: Any) -> str:
    if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
        return f"{schema['type']} {schema.get('name')}"
    if isinstance(schema, list):
        return "union[" + ", ".join(_describe(s) for s in schema) + "]"
    if isinstance(schema, dict):
        return _describe(schema["type"]) if isinstance(schema["type"], (dict, list)) else str(schema["type"])
    return str(schema)


def reader_problems(reader: Any, writer: Any, path: str = "") -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` ([] if it can)."""
    if isinstance(writer, list):
        problems = []
        for branch in writer:
            if _readable_by_any(reader, branch, path):
                continue
            problems.append(
                f"{path or '/'}: union branch {_describe(branch)} of the writer has no match in the reader"
            )
        return problems
    if isinstance(reader, list):
        if any(not reader_problems(branch, writer, path) for branch in reader):
            return []
        return [f"{path or '/'}: {_describe(writer)} matches no branch of the reader's {_describe(reader)}"]
    r_type, w_type = _type_name(reader), _type_name(writer)
    if isinstance(reader, dict) and not isinstance(reader.get("type"), str):
        return reader_problems(reader["type"], writer, path)
    if isinstance(writer, dict) and not isinstance(writer.get("type"), str):
        return reader_problems(reader, writer["type"], path)
    if r_type != w_type:
        if w_type in _PROMOTIONS and r_type in _PROMOTIONS[w_type]:
            return []
        return [
            f"{path or '/'}: type changed from {_describe(writer)} to {_describe(reader)}, "
            "which cannot be read across"
        ]
    if r_type == "record":
        return _record_problems(reader, writer, path)
    if r_type == "enum":
        missing = [s for s in writer.get("symbols", []) if s not in reader.get("symbols", [])]
        if missing and "default" not in reader:
            return [f"{path or '/'}: enum symbols {missing} were removed (and the enum has no default)"]
        return []
    if r_type == "array":
        return reader_problems(reader["items"], writer["items"], f"{path}/items")
    if r_type == "map":
        return reader_problems(reader["values"], writer["values"], f"{path}/values")
    if r_type == "fixed" and reader.get("size") != writer.get("size"):
        return [f"{path or '/'}: fixed size changed from {writer.get('size')} to {reader.get('size')}"]
    return []


def _readable_by_any(reader: Any, writer_branch: Any, path: str) -> bool:
    branches = reader if isinstance(reader, list) else [reader]
    return any(not reader_problems(b, writer_branch, path) for b in branches)


def _record_problems(reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    if reader.get("name", "").split(".")[-1] != writer.get("name", "").split(".")[-1]:
        problems.append(
            f"{path or '/'}: record name changed from {writer.get('name')} to {reader.get('name')}"
        )
    writer_fields = {f["name"]: f for f in writer.get("fields", [])}
    for field in reader.get("fields", []):
        names = [field["name"], *field.get("aliases", [])]
        source = next((writer_fields[n] for n in names if n in writer_fields), None)
        field_path = f"{path}/{field['name']}"
        if source is None:
            if "default" not in field:
                problems.append(
                    f"field '{field['name']}' ({_describe(field['type'])}) at {field_path} exists only in "
                    "the reading schema and has no default"
                )
            continue
        problems.extend(reader_problems(field["type"], source["type"], field_path))
    return problems


def explain(old: str | dict[str, Any], new: str | dict[str, Any], level: str) -> list[str]:
    """Field-level reasons why ``new`` breaks ``level`` compatibility with ``old``."""
    old_schema, new_schema = _load(old), _load(new)
    level = level.upper().replace("_TRANSITIVE", "")
    messages: list[str] = []
    if level in ("BACKWARD", "FULL"):
        messages.extend(
            f"BACKWARD broken (consumers on the new schema cannot read existing events): {p}"
            for p in reader_problems(new_schema, old_schema)
        )
    if level in ("FORWARD", "FULL"):
        messages.extend(
            f"FORWARD broken (consumers still on the old schema cannot read new events): {p}"
            for p in reader_problems(old_schema, new_schema)
        )
    return messages
