"""CachedFieldsMixin: the same representation as DRF's, with fields built once per class."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from rest_framework import serializers

from chassis.serializers import CachedFieldsMixin

pytestmark = pytest.mark.unit


class Plain(serializers.Serializer):  # type: ignore[misc]
    id = serializers.UUIDField()
    name = serializers.CharField()
    count = serializers.IntegerField(source="inner.count")
    when = serializers.DateTimeField()
    maybe = serializers.CharField(allow_null=True)
    secret = serializers.CharField(write_only=True)


class CachedPlain(CachedFieldsMixin, Plain):
    pass


class UserOutput(serializers.ModelSerializer):  # type: ignore[misc]
    class Meta:
        model = User
        fields = ("id", "username", "date_joined", "is_active")
        read_only_fields = fields


class CachedUserOutput(CachedFieldsMixin, UserOutput):
    pass


def _thing(**overrides: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": "Bart",
        "inner": SimpleNamespace(count=7),
        "when": datetime(2026, 12, 3, 17, 30, 1, 123456, tzinfo=UTC),
        "maybe": None,
        "secret": "never shown",
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_a_plain_serializer_renders_exactly_as_drf_does() -> None:
    thing = _thing()
    assert CachedPlain(thing).data == Plain(thing).data
    assert "secret" not in CachedPlain(thing).data
    assert CachedPlain(thing).data["maybe"] is None


def test_a_model_serializer_renders_exactly_as_drf_does() -> None:
    user = User(id=42, username="bart", date_joined=datetime(1980, 2, 23, tzinfo=UTC), is_active=False)
    assert CachedUserOutput(user).data == UserOutput(user).data


def test_many_renders_every_row_with_its_own_values() -> None:
    things = [_thing(name=f"n{i}", inner=SimpleNamespace(count=i)) for i in range(5)]
    rendered = CachedPlain(things, many=True).data
    assert rendered == Plain(things, many=True).data
    assert [row["count"] for row in rendered] == [0, 1, 2, 3, 4]


def test_fields_are_built_once_per_class() -> None:
    CachedPlain(_thing()).data  # noqa: B018 (builds the cache)
    built: list[int] = []
    original = Plain.get_fields

    def counting(self: Plain) -> Any:
        built.append(1)
        return original(self)

    Plain.get_fields = counting  # type: ignore[method-assign]
    try:
        for _ in range(3):
            CachedPlain(_thing()).data  # noqa: B018
        assert built == []
        for _ in range(3):
            Plain(_thing()).data  # noqa: B018
        assert len(built) == 3
    finally:
        Plain.get_fields = original  # type: ignore[method-assign]


def test_a_change_of_rest_framework_settings_rebuilds_the_fields() -> None:
    thing = _thing()
    assert CachedPlain(thing).data["when"] == "2026-12-03T17:30:01.123456Z"
    with override_settings(REST_FRAMEWORK={"DATETIME_FORMAT": "%Y"}):
        assert CachedPlain(thing).data["when"] == "2026"
    assert CachedPlain(thing).data["when"] == "2026-12-03T17:30:01.123456Z"


def test_a_nested_or_related_field_is_refused_naming_it() -> None:
    class Nested(CachedFieldsMixin, serializers.Serializer):  # type: ignore[misc]
        inner = Plain()

    class Related(CachedFieldsMixin, serializers.Serializer):  # type: ignore[misc]
        group = serializers.PrimaryKeyRelatedField(queryset=Group.objects.none())

    with pytest.raises(ImproperlyConfigured, match=r"Nested\.inner is a Plain"):
        Nested(SimpleNamespace(inner=_thing())).data  # noqa: B018
    with pytest.raises(ImproperlyConfigured, match=r"Related\.group is a PrimaryKeyRelatedField"):
        Related(SimpleNamespace(group=None)).data  # noqa: B018
