"""The chassis inside Django: routes, the exception handler, the management command."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import resolve, reverse

from chassis.exceptions import exception_handler
from chassis.health import health

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/things/", "things"),
        ("/api/schema/", "schema"),
        ("/api/docs/", "swagger-ui"),
        ("/api-auth/login/", "login"),
        ("/admin/", "index"),
        ("/health/", "health"),
        ("/eventing/flow/", "eventing-flow"),
        ("/eventing/flow/data/", "eventing-flow-data"),
    ],
)
def test_service_urlpatterns_route_the_shared_paths(path: str, name: str) -> None:
    assert resolve(path).url_name == name


def test_health_is_the_eventing_view() -> None:
    assert resolve(reverse("health")).func is health


def test_a_django_validation_error_becomes_a_400_with_field_errors() -> None:
    response = exception_handler(ValidationError({"item_count": ["Must be positive."]}), {})

    assert response is not None
    assert response.status_code == 400
    assert response.data == {"item_count": ["Must be positive."]}


def test_a_validation_error_without_fields_is_a_non_field_error() -> None:
    response = exception_handler(ValidationError("Customer unknown."), {})

    assert response is not None
    assert response.status_code == 400
    assert response.data == {"non_field_errors": ["Customer unknown."]}


def test_other_exceptions_are_left_to_django() -> None:
    assert exception_handler(RuntimeError("boom"), {}) is None


def test_ensure_dev_superuser_refuses_in_production(settings: Any) -> None:
    settings.DJANGO_ENV = "production"

    with pytest.raises(CommandError, match="DJANGO_ENV=production"):
        call_command("ensure_dev_superuser")
