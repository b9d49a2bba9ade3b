"""The schema gate: ``eventing.schemas.register`` / ``check``, ``eventing.startup`` and ``eventing_schemas``.

Against the in-memory registry (the same field-level compatibility rules as the real one in
the common cases; ``integration/test_schema_gate_real.py`` runs the gate against Apicurio).
Event types are declared on schema files written to a temporary directory, so each test
chooses what changed between the registered schema and the one being deployed.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from eventing.events import EventType
from eventing.exceptions import (
    ConfigurationError,
    EventingError,
    IncompatibleSchema,
    SchemaNotRegistered,
    SchemaRegistryUnavailable,
)
from eventing.runtime import runtime, use_registry
from eventing.schemas import check, plan, register
from eventing.serialization.registry import InMemorySchemaRegistry
from eventing.startup import startup
from tests.settings import EVENTING

pytestmark = pytest.mark.unit

#: The topic of the test app's one owned event type (tests/testapp/events.py).
EVENTING_TOPIC = os.environ["EVENTING_TESTS_TOPIC"]
FIELDS: list[dict[str, Any]] = [{"name": "id", "type": "string"}, {"name": "points", "type": "long"}]


def write_schema(directory: Path, name: str, fields: list[dict[str, Any]]) -> str:
    path = directory / f"{name}.avsc"
    path.write_text(json.dumps({"type": "record", "name": "Balance", "namespace": "tests", "fields": fields}))
    return str(path)


@pytest.fixture
def registry() -> Iterator[InMemorySchemaRegistry]:
    fake = InMemorySchemaRegistry()
    use_registry(fake)
    yield fake
    use_registry(None)


def balance(tmp_path: Path, name: str = "v1", fields: list[dict[str, Any]] = FIELDS, **kw: Any) -> EventType:
    return EventType(
        type=kw.pop("type", "balance_state"),
        topic="balances",
        schema=write_schema(tmp_path, name, fields),
        **kw,
    )


def test_register_assigns_an_id_and_caches_it_for_publish(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    event_type = balance(tmp_path)
    with pytest.raises(SchemaNotRegistered, match=r"eventing\.startup\(\)"):
        runtime.resolved(event_type)
    (resolved,) = register([event_type])
    assert resolved.subject == "balances-value"
    assert registry.lookup("balances-value", resolved.text) == resolved.schema_id
    assert runtime.resolved(event_type).schema_id == resolved.schema_id


def test_register_is_idempotent(tmp_path: Path, registry: InMemorySchemaRegistry) -> None:
    event_type = balance(tmp_path)
    (first,) = register([event_type])
    (again,) = register([event_type])
    assert again.schema_id == first.schema_id


def test_register_sets_the_configured_compatibility_level_on_the_subject(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    register([balance(tmp_path)])
    assert registry.compatibility("balances-value") == "BACKWARD"
    register([balance(tmp_path)], compatibility="full")
    assert registry.compatibility("balances-value") == "FULL"


def test_an_unknown_compatibility_level_is_refused_before_any_registry_call(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    with pytest.raises(ConfigurationError, match="Unknown compatibility level 'SOMETIMES'") as caught:
        register([balance(tmp_path)], compatibility="sometimes")
    assert "BACKWARD" in caught.value.context["allowed"]
    assert registry.lookup("balances-value", plan([balance(tmp_path)])[0].text) is None


def test_a_compatible_change_is_registered_as_a_new_version(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    (v1,) = register([balance(tmp_path)])
    added = [*FIELDS, {"name": "tier", "type": "string", "default": "basic"}]
    (v2,) = register([balance(tmp_path, "v2", added)])
    assert v2.schema_id != v1.schema_id


def test_an_incompatible_change_is_refused_naming_the_field_and_the_level(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    (v1,) = register([balance(tmp_path)])
    without_default = [*FIELDS, {"name": "tier", "type": "string"}]
    with pytest.raises(IncompatibleSchema) as caught:
        register([balance(tmp_path, "v2", without_default)])
    assert "balances-value" in str(caught.value) and "BACKWARD" in str(caught.value)
    assert any("tier" in message for message in caught.value.messages)
    assert caught.value.context == {"subject": "balances-value", "compatibility": "BACKWARD"}
    # Nothing was registered and publish still uses the old id.
    assert runtime.resolved(balance(tmp_path)).schema_id == v1.schema_id


def test_a_retyped_field_is_refused_naming_the_field(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    register([balance(tmp_path)])
    retyped = [{"name": "id", "type": "string"}, {"name": "points", "type": "string"}]
    with pytest.raises(IncompatibleSchema) as caught:
        register([balance(tmp_path, "v2", retyped)])
    assert any("points" in message for message in caught.value.messages)


def test_check_reports_problems_per_subject_and_registers_nothing(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    register([balance(tmp_path)])
    changed = balance(tmp_path, "v2", [{"name": "id", "type": "string"}, {"name": "points", "type": "int"}])
    problems = check([changed])
    assert list(problems) == ["balances-value"]
    assert any("points" in message for message in problems["balances-value"])
    assert registry.lookup("balances-value", plan([changed])[0].text) is None
    assert check([balance(tmp_path)]) == {}


def test_look_up_only_refuses_a_schema_that_is_not_registered(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    with pytest.raises(ConfigurationError, match="not registered and registration is disabled") as caught:
        register([balance(tmp_path)], register_missing=False)
    assert caught.value.context == {"subject": "balances-value"}
    register([balance(tmp_path)])
    (found,) = register([balance(tmp_path)], register_missing=False)
    assert found.subject == "balances-value"


def test_event_types_of_one_topic_with_different_schemas_are_refused(tmp_path: Path) -> None:
    first = balance(tmp_path, "a")
    second = balance(tmp_path, "b", [{"name": "id", "type": "string"}], type="balance_deleted")
    with pytest.raises(ConfigurationError, match="sharing a topic must share one schema") as caught:
        plan([first, second])
    assert caught.value.context == {"subject": "balances-value", "event_type": "balance_deleted"}


def test_event_types_of_one_topic_sharing_a_schema_are_one_subject(
    tmp_path: Path, registry: InMemorySchemaRegistry
) -> None:
    state = balance(tmp_path)
    deleted = balance(tmp_path, type="balance_deleted")
    (item,) = plan([state, deleted])
    assert [e.type for e in item.event_types] == ["balance_state", "balance_deleted"]
    register([state, deleted])
    assert runtime.resolved(state).schema_id == runtime.resolved(deleted).schema_id


def test_an_invalid_avro_schema_file_is_refused_before_the_registry(tmp_path: Path) -> None:
    path = tmp_path / "bad.avsc"
    path.write_text(json.dumps({"type": "record", "name": "Bad", "fields": [{"name": "x", "type": "nope"}]}))
    with pytest.raises(Exception, match="nope"):
        plan([EventType(type="bad", topic="bad", schema=str(path))])


def test_an_unreadable_schema_file_names_the_event_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        plan([EventType(type="ghost", topic="ghost", schema=str(tmp_path / "missing.avsc"))])
    assert caught.value.context["event_type"] == "ghost"


class RefusingConfig(InMemorySchemaRegistry):
    """Refuses per-subject config with ``status`` (a registry may: 404 before the subject exists)."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def set_compatibility(self, subject: str, level: str) -> None:
        raise EventingError("config refused", context={"subject": subject, "status": self.status})


def test_a_registry_refusing_config_of_a_new_subject_still_registers(tmp_path: Path) -> None:
    (resolved,) = register([balance(tmp_path)], registry=RefusingConfig(404))
    assert resolved.schema_id == 1


def test_any_other_config_refusal_stops_the_registration(tmp_path: Path) -> None:
    with pytest.raises(EventingError, match="config refused"):
        register([balance(tmp_path)], registry=RefusingConfig(403))


# -- startup() --------------------------------------------------------------------------------


class DownRegistry(InMemorySchemaRegistry):
    def lookup(self, subject: str, schema: str) -> int | None:
        raise SchemaRegistryUnavailable("Schema registry unreachable at http://registry:8081")


def test_startup_registers_the_owned_schemas_of_the_catalog(registry: InMemorySchemaRegistry) -> None:
    resolved = startup()
    assert {r.subject for r in resolved} == {f"{EVENTING_TOPIC}-value"}
    assert all(registry.lookup(r.subject, r.text) == r.schema_id for r in resolved)


def test_startup_only_looks_up_when_registration_on_startup_is_off(registry: InMemorySchemaRegistry) -> None:
    with override_settings(EVENTING={**EVENTING, "REGISTER_SCHEMAS_ON_STARTUP": False}):
        with pytest.raises(ConfigurationError, match="registration is disabled"):
            startup()
        startup(register_missing=True)  # an explicit argument wins over the setting
        assert startup()  # now registered: found by look-up


def test_startup_with_the_registry_down_fails_loudly() -> None:
    use_registry(DownRegistry())
    try:
        with pytest.raises(SchemaRegistryUnavailable, match="unreachable"):
            startup()
    finally:
        use_registry(None)


# -- manage.py eventing_schemas ---------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("eventing_schemas", *args, stdout=out)
    return out.getvalue()


def test_the_command_registers_and_prints_each_subject_and_id(registry: InMemorySchemaRegistry) -> None:
    output = run("register")
    (line,) = output.splitlines()
    subject, _, schema_id = line.partition(": schema id ")
    assert subject == f"{EVENTING_TOPIC}-value"
    assert registry.get_schema(int(schema_id))
    assert run() == output  # register is the default action, and idempotent


def test_the_command_check_says_all_is_compatible(registry: InMemorySchemaRegistry) -> None:
    run("register")
    assert run("check") == "all owned schemas are compatible\n"


def test_the_command_check_exits_with_the_problems(registry: InMemorySchemaRegistry) -> None:
    subject = f"{EVENTING_TOPIC}-value"
    registry.incompatible[subject] = ["reader field 'owner' has no default"]
    with pytest.raises(CommandError) as caught:
        run("check")
    assert (
        str(caught.value) == f"Incompatible schema changes:\n  {subject}: reader field 'owner' has no default"
    )


def test_the_command_refuses_an_incompatible_registration_listing_the_reasons(
    registry: InMemorySchemaRegistry,
) -> None:
    subject = f"{EVENTING_TOPIC}-value"
    registry.incompatible[subject] = ["field 'balance' changed type", "field 'tier' has no default"]
    with pytest.raises(CommandError) as caught:
        run("register")
    message = str(caught.value)
    assert message.startswith(
        "Incompatible schema change refused:\n  field 'balance' changed type\n  field 'tier'"
    )
    assert subject in message


def test_the_command_with_the_registry_down_is_a_command_error() -> None:
    use_registry(DownRegistry())
    try:
        with pytest.raises(CommandError, match="unreachable at http://registry:8081"):
            run("register")
    finally:
        use_registry(None)


def test_the_command_refuses_an_unknown_level(registry: InMemorySchemaRegistry) -> None:
    with pytest.raises(CommandError, match="Unknown compatibility level 'LOOSE'"):
        run("register", "--compatibility", "loose")


def test_the_command_refuses_an_unknown_action() -> None:
    with pytest.raises(CommandError, match=r"invalid choice: 'publish' \(choose from 'register', 'check'\)"):
        run("publish")
