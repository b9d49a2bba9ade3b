"""Operational surface: settings, health, docs, logging, admin, dev superuser."""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from rest_framework.test import APIClient

import points_site.settings
from points_site.env import database_from_url
from points_site.logging import JsonFormatter, TextFormatter

SERVICE = "points"
DB_NAME = "points"
API_PATHS = {"/api/award/{customer_id}/"}
# An endpoint that answers this status to an authenticated user.
AUTH_PROBE = ("/api/award/00000000-0000-0000-0000-000000000000/", 404)
SERVICE_DIR = Path(__file__).resolve().parents[1]
SETTINGS_FILE = str(Path(points_site.settings.__file__))
SETTINGS_ENV = [
    "DJANGO_ENV",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DEV_SUPERUSER_USERNAME",
    "DEV_SUPERUSER_PASSWORD",
    "DATABASE_URL",
    "LOG_FORMAT",
]
GOOD_SECRET = "s3cr3t-" + "x" * 40


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """Execute the settings module afresh under exactly ``env``."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(SETTINGS_FILE, run_name="settings_under_test")


# --- settings -------------------------------------------------------------------------


@pytest.mark.unit
def test_development_defaults_point_at_the_local_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(monkeypatch)

    assert settings["DEBUG"] is True
    assert settings["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    db = settings["DATABASES"]["default"]
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == (
        "127.0.0.1",
        "5432",
        DB_NAME,
        "postgres",
    )
    assert db["CONN_HEALTH_CHECKS"] is True
    assert settings["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert settings["SCHEMA_REGISTRY_URL"] == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert "eventing" in settings["INSTALLED_APPS"]
    assert settings["EVENTING"]["SOURCE"] == f"/{SERVICE}"
    assert Path(settings["EVENTING"]["SCHEMA_ROOT"]).is_dir()


@pytest.mark.unit
def test_endpoints_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        monkeypatch,
        DATABASE_URL="postgresql://svc:p%40ss@db.example:6543/custs?sslmode=require",
        KAFKA_BOOTSTRAP_SERVERS="k1:9092,k2:9092",
        SCHEMA_REGISTRY_URL="http://registry:8081",
    )

    db = settings["DATABASES"]["default"]
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"], db["PASSWORD"]) == (
        "db.example",
        "6543",
        "custs",
        "svc",
        "p@ss",
    )
    assert db["OPTIONS"]["sslmode"] == "require"
    assert settings["KAFKA_BOOTSTRAP_SERVERS"] == "k1:9092,k2:9092"
    assert settings["SCHEMA_REGISTRY_URL"] == "http://registry:8081"


@pytest.mark.unit
def test_production_with_its_settings_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        monkeypatch,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=GOOD_SECRET,
        DJANGO_ALLOWED_HOSTS="api.example",
    )

    assert settings["DEBUG"] is False
    assert settings["ALLOWED_HOSTS"] == ["api.example"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "api.example"}, "DJANGO_SECRET_KEY"),
        (
            {"DJANGO_ALLOWED_HOSTS": "api.example", "DJANGO_SECRET_KEY": "short"},
            "DJANGO_SECRET_KEY",
        ),
        (
            {
                "DJANGO_ALLOWED_HOSTS": "api.example",
                "DJANGO_SECRET_KEY": GOOD_SECRET,
                "DJANGO_DEBUG": "1",
            },
            "DEBUG",
        ),
        ({"DJANGO_SECRET_KEY": GOOD_SECRET}, "DJANGO_ALLOWED_HOSTS"),
        (
            {
                "DJANGO_ALLOWED_HOSTS": "a",
                "DJANGO_SECRET_KEY": GOOD_SECRET,
                "DEV_SUPERUSER_PASSWORD": "P@ssw0rd1",
            },
            "DEV_SUPERUSER_PASSWORD",
        ),
    ],
)
def test_production_refuses_insecure_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=complaint):
        load_settings(monkeypatch, DJANGO_ENV="production", **env)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "value"),
    [("DJANGO_ENV", "staging"), ("DJANGO_DEBUG", "maybe"), ("LOG_FORMAT", "xml")],
)
def test_unknown_setting_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(monkeypatch, **{name: value})


@pytest.mark.unit
@pytest.mark.slow
def test_manage_py_refuses_to_run_in_production_with_defaults() -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV} | {"DJANGO_ENV": "production"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        check=False,
        cwd=SERVICE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "Refusing to start with DJANGO_ENV=production" in result.stderr


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://u:p@h:1/db",
            {"HOST": "h", "PORT": "1", "NAME": "db", "USER": "u", "PASSWORD": "p"},
        ),
        (
            "postgres://h/db",
            {"HOST": "h", "PORT": "", "NAME": "db", "USER": "", "PASSWORD": ""},
        ),
        ("postgresql://u@[::1]:5433/db", {"HOST": "::1", "PORT": "5433", "NAME": "db"}),
        ("postgresql://u@%2Fsrv%2FPG:5433/db", {"HOST": "/srv/PG", "PORT": "5433"}),
        (
            "postgresql:///db?host=/var/run/postgresql",
            {"HOST": "/var/run/postgresql", "NAME": "db"},
        ),
    ],
)
def test_database_url_parsing(url: str, expected: dict[str, str]) -> None:
    parsed = database_from_url(url, conn_max_age=60, application_name=SERVICE)

    assert {key: parsed[key] for key in expected} == expected
    assert parsed["OPTIONS"]["application_name"] == SERVICE


@pytest.mark.unit
@pytest.mark.parametrize("url", ["mysql://h/db", "postgresql://h:port/db", "postgresql://h:5432/"])
def test_bad_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        database_from_url(url, conn_max_age=0, application_name=SERVICE)


# --- logging --------------------------------------------------------------------------


def _log_record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("svc.test", logging.INFO, __file__, 1, "applied %s", ("event",), None)
    record.__dict__.update(extra)
    return record


@pytest.mark.unit
def test_json_log_lines_carry_extra_fields() -> None:
    line = JsonFormatter().format(_log_record(event_id="e-1", topic="t", partition=3, offset=42))

    entry = json.loads(line)
    assert entry["message"] == "applied event"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "svc.test"
    assert (entry["event_id"], entry["topic"], entry["partition"], entry["offset"]) == (
        "e-1",
        "t",
        3,
        42,
    )


@pytest.mark.unit
def test_json_log_lines_include_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exc_info"]


@pytest.mark.unit
def test_text_log_lines_carry_extra_fields() -> None:
    line = TextFormatter().format(_log_record(event_id="e-1", offset=42))

    assert "applied event" in line
    assert "event_id=e-1 offset=42" in line


# --- health ---------------------------------------------------------------------------


def check_failing() -> None:
    raise ConnectionError("registry unreachable")


@pytest.mark.integration
@pytest.mark.django_db
def test_health_is_ok_without_credentials(anonymous_api: APIClient, settings: Any) -> None:
    # Only the database: Kafka, the registry and the consumer are checked in e2e tests.
    settings.HEALTH_CHECKS = ["eventing.health.check_database"]
    response = anonymous_api.get("/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.mark.integration
@pytest.mark.django_db
def test_health_is_503_when_no_consumer_has_reported(anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["consumer"] == "error"
    assert "has reported" in body["errors"]["consumer"]


@pytest.mark.integration
@pytest.mark.django_db
def test_health_is_503_when_the_database_fails(
    anonymous_api: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.HEALTH_CHECKS = ["eventing.health.check_database"]

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", unreachable)

    response = anonymous_api.get("/health/")

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {"database": "error"},
        "errors": {"database": "OperationalError: connection refused"},
    }


@pytest.mark.integration
@pytest.mark.django_db
def test_health_runs_the_configured_checks(anonymous_api: APIClient, settings: Any) -> None:
    settings.HEALTH_CHECKS = [
        "eventing.health.check_database",
        "tests.test_site.check_failing",
    ]

    response = anonymous_api.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "failing": "error"}
    assert body["errors"] == {"failing": "ConnectionError: registry unreachable"}


@pytest.mark.integration
@pytest.mark.django_db
def test_health_checks_may_be_callables_with_arguments(anonymous_api: APIClient, settings: Any) -> None:
    def check_consumer(group: str) -> None:
        raise RuntimeError(f"no consumer of group {group} has reported")

    settings.HEALTH_CHECKS = [
        *settings.HEALTH_CHECKS,
        functools.partial(check_consumer, "points.award"),
    ]

    response = anonymous_api.get("/health/")

    assert response.status_code == 503
    assert response.json()["errors"] == {
        "consumer": "RuntimeError: no consumer of group points.award has reported"
    }


# --- docs, schema, static -------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db
def test_openapi_schema_describes_the_api(anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert set(schema["paths"]) >= API_PATHS
    assert "basicAuth" in schema["components"]["securitySchemes"]


@pytest.mark.integration
@pytest.mark.django_db
def test_schema_generation_has_no_warnings(tmp_path: Path) -> None:
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert "openapi:" in (tmp_path / "schema.yaml").read_text()


@pytest.mark.integration
@pytest.mark.django_db
def test_swagger_ui_is_served_locally(anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/api/docs/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn.jsdelivr.net" not in html


@pytest.mark.slow
@pytest.mark.integration
def test_collectstatic_gathers_admin_and_swagger_assets(settings: Any, tmp_path: Path) -> None:
    settings.STATIC_ROOT = tmp_path

    call_command("collectstatic", "--noinput", verbosity=0)

    assert (tmp_path / "admin" / "css" / "base.css").exists()
    assert (tmp_path / "drf_spectacular_sidecar" / "swagger-ui-dist" / "swagger-ui-bundle.js").exists()


# --- dev superuser --------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db
def test_ensure_dev_superuser_creates_root_once(anonymous_api: APIClient) -> None:
    out = io.StringIO()

    call_command("ensure_dev_superuser", stdout=out)
    call_command("ensure_dev_superuser", stdout=out)

    assert get_user_model().objects.filter(username="root", is_superuser=True).count() == 1
    assert "created" in out.getvalue()
    assert "already present" in out.getvalue()
    anonymous_api.credentials(HTTP_AUTHORIZATION="Basic cm9vdDpQQHNzdzByZDE=")  # root:P@ssw0rd1
    assert anonymous_api.get(AUTH_PROBE[0]).status_code == AUTH_PROBE[1]


@pytest.mark.integration
@pytest.mark.django_db
def test_ensure_dev_superuser_follows_the_configured_password(settings: Any) -> None:
    call_command("ensure_dev_superuser", stdout=io.StringIO())
    settings.DEV_SUPERUSER_USERNAME = "root"
    settings.DEV_SUPERUSER_PASSWORD = "another-password"

    call_command("ensure_dev_superuser", stdout=io.StringIO())

    assert get_user_model().objects.get(username="root").check_password("another-password")


@pytest.mark.integration
@pytest.mark.django_db
def test_ensure_dev_superuser_refuses_in_production(settings: Any) -> None:
    settings.DJANGO_ENV = "production"

    with pytest.raises(CommandError, match="production"):
        call_command("ensure_dev_superuser")

    assert not get_user_model().objects.filter(username="root").exists()


@pytest.mark.integration
@pytest.mark.django_db
def test_health_can_run_a_subset_of_its_checks(anonymous_api: APIClient) -> None:
    # The consumer has not reported, but a readiness probe of the web process asks only
    # for the database.
    response = anonymous_api.get("/health/?only=database")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
