from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from chassis.settings import eventing_config, service_settings

pytestmark = pytest.mark.unit

ENV = [
    "DJANGO_ENV",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DEV_SUPERUSER_PASSWORD",
    "DATABASE_URL",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "CONTRACTS_DIR",
    "CONNECT_DATABASE_HOST",
    "DATASCHEMA_BASE",
]


def build(monkeypatch: pytest.MonkeyPatch, base_dir: Path = Path("/repo/services/shop"), **env: str) -> Any:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return service_settings(
        service="shop",
        app="shop",
        base_dir=base_dir,
        database="shopdb",
        api_title="Shop API",
        api_description="Things for sale.",
    )


def test_a_service_gets_its_names_in_the_common_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = build(monkeypatch)

    assert settings["SERVICE_NAME"] == "shop"
    assert settings["BASE_DIR"] == Path("/repo/services/shop")
    assert settings["INSTALLED_APPS"][-3:] == ["chassis", "eventing", "shop"]
    assert (settings["ROOT_URLCONF"], settings["WSGI_APPLICATION"]) == (
        "shop_site.urls",
        "shop_site.wsgi.application",
    )
    assert settings["DATABASES"]["default"]["NAME"] == "shopdb"
    assert settings["DATABASES"]["default"]["OPTIONS"]["application_name"] == "shop"
    assert (
        settings["SECRET_KEY"] == settings["INSECURE_SECRET_KEY"] == "django-insecure-shop-development-only"
    )
    assert settings["SPECTACULAR_SETTINGS"]["TITLE"] == "Shop API"
    assert settings["REST_FRAMEWORK"]["EXCEPTION_HANDLER"] == "chassis.exceptions.exception_handler"
    assert settings["STATIC_ROOT"] == Path("/repo/services/shop/staticfiles")
    assert settings["CONTRACTS_DIR"] == Path("/repo/contracts/avro")
    assert settings["LOGGING"]["handlers"]["stderr"]["formatter"] == "json"
    assert (settings["DEV_SUPERUSER_USERNAME"], settings["DEV_SUPERUSER_PASSWORD"]) == ("root", "P@ssw0rd1")
    assert "SESSION_COOKIE_SECURE" not in settings


def test_production_gets_secure_cookies(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = build(
        monkeypatch, DJANGO_ENV="production", DJANGO_SECRET_KEY="k" * 40, DJANGO_ALLOWED_HOSTS="shop.example"
    )

    assert settings["PRODUCTION"] is True
    assert settings["DEBUG"] is False
    assert settings["SESSION_COOKIE_SECURE"] is settings["CSRF_COOKIE_SECURE"] is True
    assert settings["STORAGES"]["staticfiles"]["BACKEND"].startswith("whitenoise.")


def test_production_lists_every_problem_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        build(monkeypatch, DJANGO_ENV="production", DJANGO_DEBUG="on", DEV_SUPERUSER_PASSWORD="P@ssw0rd1")

    message = str(refused.value)
    assert message.startswith("Refusing to start with DJANGO_ENV=production: ")
    for variable in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DEV_SUPERUSER_PASSWORD"):
        assert variable in message


def test_the_default_superuser_password_is_only_refused_when_set_explicitly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = build(
        monkeypatch, DJANGO_ENV="production", DJANGO_SECRET_KEY="k" * 40, DJANGO_ALLOWED_HOSTS="shop.example"
    )

    assert settings["DEV_SUPERUSER_PASSWORD"] == settings["DEFAULT_DEV_SUPERUSER_PASSWORD"]


@pytest.mark.parametrize(("name", "value"), [("DJANGO_ENV", "staging"), ("LOG_FORMAT", "xml")])
def test_unknown_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=name):
        build(monkeypatch, **{name: value})


def test_eventing_config_uses_the_endpoints_of_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = build(monkeypatch, KAFKA_BOOTSTRAP_SERVERS="k:9092", CONTRACTS_DIR="/contracts")

    eventing = eventing_config(settings, source="/shop", connectors=("eventing.connect.defaults.outbox",))

    assert eventing == {
        "SOURCE": "/shop",
        "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
        "SCHEMA_REGISTRY_URL": settings["SCHEMA_REGISTRY_URL"],
        "SCHEMA_ROOT": "/contracts",
        "CONNECT_URL": settings["CONNECT_URL"],
        "CONNECTORS": ["eventing.connect.defaults.outbox"],
        "CONSUMER_GROUPS": [],
        "CONNECT_DATABASE_HOST": None,
        "CONNECT_AVRO_CONVERTER": "apicurio",
        "CONNECT_REGISTRY_URL": None,
        "DATASCHEMA_BASE": None,
    }
    groups = eventing_config(settings, source="/shop", connectors=[], consumer_groups=("shop.reader",))
    assert groups["CONSUMER_GROUPS"] == ["shop.reader"]
    monkeypatch.setenv("APICURIO_REGISTRY_URL", "http://old:8080/apis/registry/v2")
    assert eventing_config(settings, source="/shop", connectors=[])["CONNECT_REGISTRY_URL"] == (
        "http://old:8080/apis/registry/v2"
    )
    monkeypatch.setenv("CONNECT_AVRO_CONVERTER", "confluent")
    monkeypatch.setenv("CONNECT_REGISTRY_URL", "http://sr:8081")
    confluent = eventing_config(settings, source="/shop", connectors=[])
    assert (confluent["CONNECT_AVRO_CONVERTER"], confluent["CONNECT_REGISTRY_URL"]) == (
        "confluent",
        "http://sr:8081",
    )
    monkeypatch.setenv("CONNECT_DATABASE_HOST", "db.internal")
    assert eventing_config(settings, source="/shop", connectors=[])["CONNECT_DATABASE_HOST"] == "db.internal"
    monkeypatch.setenv("DATASCHEMA_BASE", "https://registry.example.com/apis/ccompat/v7")
    assert (
        eventing_config(settings, source="/shop", connectors=[])["DATASCHEMA_BASE"]
        == "https://registry.example.com/apis/ccompat/v7"
    )
