"""The process-wide runtime: a lazily built registry client, the resolved ids, and the errors' text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from eventing.exceptions import EventingError, IncompatibleSchema, SchemaNotRegistered
from eventing.runtime import get_codec, get_registry, runtime, use_registry
from eventing.schemas import register
from eventing.serialization.registry import ConfluentSchemaRegistry, InMemorySchemaRegistry
from tests.settings import EVENTING
from tests.testapp.events import ACCOUNT_OPENED, ACCOUNT_STATE

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


def test_the_registry_client_is_built_from_the_setting_on_first_use_and_kept() -> None:
    with override_settings(
        EVENTING={**EVENTING, "SCHEMA_REGISTRY_URL": "http://registry.internal:8081/apis/ccompat/v7/"}
    ):
        registry = get_registry()
        assert isinstance(registry, ConfluentSchemaRegistry)
        assert registry.url == "http://registry.internal:8081/apis/ccompat/v7"
        assert get_registry() is registry


def test_the_codec_follows_the_registry_it_was_built_on() -> None:
    first, second = InMemorySchemaRegistry(), InMemorySchemaRegistry()
    use_registry(first)
    codec = get_codec()
    assert codec.registry is first and get_codec() is codec
    use_registry(second)
    assert get_codec().registry is second


def test_swapping_the_registry_forgets_the_resolved_ids() -> None:
    fake = InMemorySchemaRegistry()
    use_registry(fake)
    register([ACCOUNT_STATE], registry=fake)
    assert runtime.resolved(ACCOUNT_STATE).subject == ACCOUNT_STATE.subject
    use_registry(InMemorySchemaRegistry())  # ids of one registry mean nothing in another
    with pytest.raises(SchemaNotRegistered) as caught:
        runtime.resolved(ACCOUNT_STATE)
    assert caught.value.context == {"event_type": ACCOUNT_STATE.type, "subject": ACCOUNT_STATE.subject}
    assert "eventing_schemas register" in str(caught.value)


def test_the_reader_schema_of_a_consumed_type_comes_from_its_contract_file_and_is_cached() -> None:
    reader = runtime.reader_schema(ACCOUNT_OPENED)
    assert reader["name"] == "tests.eventing.account.AccountState"  # type: ignore[index]
    assert runtime.reader_schema(ACCOUNT_OPENED) is reader


def test_an_error_shows_its_context_sorted_after_the_message() -> None:
    error = EventingError("Handler failed", context={"topic": "accounts", "event_id": "e-1"})
    assert str(error) == "Handler failed (event_id='e-1', topic='accounts')"
    assert str(EventingError("Plain")) == "Plain"


def test_an_incompatible_schema_keeps_the_registrys_messages() -> None:
    error = IncompatibleSchema("refused", messages=["field 'tier' has no default"], context={"subject": "s"})
    assert error.messages == ["field 'tier' has no default"]
    assert str(error) == "refused (subject='s')"
    assert IncompatibleSchema("refused").messages == []
