"""The schema gate against the real registry (Apicurio's Confluent API on the stack).

Each test uses its own session-named topic (``scratch_topic``), so its subject is new and is
deleted with the session's residue. What is asserted is what a deploy sees: the first
registration and every re-registration give one id, a compatible change a new one, and an
incompatible change is refused naming the field, with nothing registered.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from eventing.conf import eventing_settings
from eventing.events import EventType
from eventing.exceptions import EventingError, IncompatibleSchema
from eventing.runtime import runtime
from eventing.schemas import check, plan, register
from eventing.serialization.registry import ConfluentSchemaRegistry
from tests.settings import scratch_topic

pytestmark = pytest.mark.integration

V1: list[dict[str, Any]] = [{"name": "id", "type": "string"}, {"name": "points", "type": "long"}]


def event_type(tmp_path: Path, topic: str, fields: list[dict[str, Any]], name: str) -> EventType:
    path = tmp_path / f"{name}.avsc"
    path.write_text(
        json.dumps({"type": "record", "name": "Balance", "namespace": "tests.gate", "fields": fields})
    )
    return EventType(type="gate_balance", topic=topic, schema=str(path))


def registry_config(subject: str) -> str:
    base = str(eventing_settings.SCHEMA_REGISTRY_URL).rstrip("/")
    body = httpx.get(f"{base}/config/{subject}", timeout=10).raise_for_status().json()
    return str(body.get("compatibilityLevel") or body.get("compatibility"))


def test_a_new_subject_is_registered_once_with_its_level(
    tmp_path: Path, real_registry: ConfluentSchemaRegistry
) -> None:
    topic = scratch_topic("gate")
    v1 = event_type(tmp_path, topic, V1, "v1")
    (first,) = register([v1], registry=real_registry, compatibility="FULL")
    (again,) = register([v1], registry=real_registry, compatibility="FULL")
    assert first.schema_id == again.schema_id
    assert real_registry.lookup(f"{topic}-value", first.text) == first.schema_id
    assert json.loads(real_registry.get_schema(first.schema_id)) == json.loads(first.text)
    assert registry_config(f"{topic}-value") == "FULL"
    assert runtime.resolved(v1).schema_id == first.schema_id


def test_a_compatible_change_is_a_new_version(tmp_path: Path, real_registry: ConfluentSchemaRegistry) -> None:
    topic = scratch_topic("gate")
    (v1,) = register([event_type(tmp_path, topic, V1, "v1")], registry=real_registry)
    with_default = [*V1, {"name": "tier", "type": "string", "default": "basic"}]
    v2_type = event_type(tmp_path, topic, with_default, "v2")
    assert check([v2_type], registry=real_registry) == {}
    (v2,) = register([v2_type], registry=real_registry)
    assert v2.schema_id != v1.schema_id


def test_an_incompatible_change_is_refused_naming_the_field_and_nothing_is_registered(
    tmp_path: Path, real_registry: ConfluentSchemaRegistry
) -> None:
    topic = scratch_topic("gate")
    register([event_type(tmp_path, topic, V1, "v1")], registry=real_registry, compatibility="BACKWARD")
    without_default = [*V1, {"name": "tier", "type": "string"}]
    v2_type = event_type(tmp_path, topic, without_default, "v2")
    # The check (a deploy's dry run) names the field...
    (problem,) = check([v2_type], registry=real_registry)[f"{topic}-value"]
    assert "tier" in problem
    # ...and so does the refusal, which registers nothing.
    with pytest.raises(IncompatibleSchema) as caught:
        register([v2_type], registry=real_registry)
    assert "tier" in str(caught.value) and "BACKWARD" in str(caught.value)
    (item,) = plan([v2_type])
    assert real_registry.lookup(item.subject, item.text) is None


def test_an_unknown_schema_id_is_a_not_found_error(real_registry: ConfluentSchemaRegistry) -> None:
    with pytest.raises(EventingError) as caught:
        real_registry.get_schema(2_000_000_000)
    assert caught.value.context["status"] == 404


def test_the_command_registers_then_checks_the_owned_schemas(live_schemas: ConfluentSchemaRegistry) -> None:
    out = io.StringIO()
    call_command("eventing_schemas", "register", stdout=out)
    call_command("eventing_schemas", "check", stdout=out)
    registered, checked = out.getvalue().splitlines()
    subject, _, schema_id = registered.partition(": schema id ")
    assert live_schemas.get_schema(int(schema_id))
    assert subject.endswith("-value")
    assert checked == "all owned schemas are compatible"
