"""The operational contract every service built on the chassis keeps, as pytest tests.

Settings from the environment and the production refusals, database and log configuration,
``/health/``, the OpenAPI schema and Swagger UI, static files, gunicorn and the development
superuser. A service runs the whole suite from its ``tests/test_site.py``::

    from chassis.testing.site_contract import *  # noqa: F403
    from chassis.testing.site_contract import ServiceSite

    @pytest.fixture
    def site() -> ServiceSite:
        return ServiceSite(service="orders", db_name="orders", ...)

pytest collects the star-imported ``test_*`` functions as that module's own; each takes
what differs between services from the ``site`` fixture. Needs the fixtures of
``chassis.testing.fixtures`` and pytest-django.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import logging
import os
import runpy
import subprocess
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.utils.module_loading import import_string
from gunicorn.config import Config
from rest_framework.test import APIClient

from chassis.testing.auth_contract import *  # noqa: F403
from chassis.testing.auth_contract import __all__ as _auth_contract

__all__ = [
    *_auth_contract,
    "test_bad_database_urls_are_refused",
    "test_collectstatic_gathers_admin_and_swagger_assets",
    "test_database_url_parsing",
    "test_development_defaults_point_at_the_local_stack",
    "test_endpoints_come_from_the_environment",
    "test_ensure_dev_superuser_creates_root_once",
    "test_ensure_dev_superuser_follows_the_configured_password",
    "test_ensure_dev_superuser_refuses_in_production",
    "test_gunicorn_serves_the_service_on_the_loopback_interface",
    "test_health_can_run_a_subset_of_its_checks",
    "test_health_checks_may_be_callables_with_arguments",
    "test_health_is_503_when_the_database_fails",
    "test_health_is_ok_without_credentials",
    "test_health_refuses_an_unknown_check_name_and_lists_the_valid_ones",
    "test_health_runs_the_configured_checks",
    "test_json_log_lines_carry_extra_fields",
    "test_json_log_lines_include_the_traceback",
    "test_manage_py_refuses_to_run_in_production_with_defaults",
    "test_metrics_is_served_without_credentials",
    "test_openapi_schema_describes_the_api",
    "test_production_refuses_insecure_settings",
    "test_production_with_its_settings_starts",
    "test_schema_generation_has_no_warnings",
    "test_swagger_ui_is_served_locally",
    "test_text_log_lines_carry_extra_fields",
    "test_unknown_setting_values_are_refused",
]


@dataclass(frozen=True)
class ServiceSite:
    """What the contract needs to know about one service.

    ``service``: its name (``SERVICE_NAME``, CloudEvents source ``/<service>``);
    ``db_name``: the database in its default ``DATABASE_URL``; ``api_paths``: paths its
    OpenAPI schema must contain; ``auth_probe``: a path and the status it answers to an
    authenticated user; ``settings_file``: its ``settings.py``; ``service_dir``: the directory
    of its ``manage.py`` and ``gunicorn.conf.py``; ``default_port``: gunicorn's port without
    ``PORT``; ``offline_health_checks``: the ``HEALTH_CHECKS`` for the tests of ``/health/``
    without the stack (``None``: the service's own, when they all need only the database);
    ``consumer_group``: the group of its eventing consumer (``consumer_contract``).
    """

    service: str
    db_name: str
    api_paths: Collection[str]
    auth_probe: tuple[str, int]
    settings_file: Path
    service_dir: Path
    default_port: int
    offline_health_checks: Sequence[str] | None = None
    consumer_group: str | None = None


SETTINGS_ENV = [
    "DJANGO_ENV",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DEV_SUPERUSER_USERNAME",
    "DEV_SUPERUSER_PASSWORD",
    "DATABASE_URL",
    "LOG_FORMAT",
    # The stack's endpoints: a shell that exported `stack env` must not change the defaults.
    "KAFKA_BOOTSTRAP_SERVERS",
    "SCHEMA_REGISTRY_URL",
    "CONNECT_URL",
    "CONTRACTS_DIR",
]
GOOD_SECRET = "s3cr3t-" + "x" * 40
# DATABASE_URL forms and the DATABASES fields they must give (also used by the chassis' tests).
DATABASE_URLS: list[tuple[str, dict[str, str]]] = [
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
]
# Not a PostgreSQL URL, a port that is not a number, no database name.
BAD_DATABASE_URLS = ["mysql://h/db", "postgresql://h:port/db", "postgresql://h:5432/"]


def load_settings(site: ServiceSite, monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """Execute the service's settings module afresh under exactly ``env``."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(site.settings_file), run_name="settings_under_test")


# --- settings -------------------------------------------------------------------------


@pytest.mark.unit
def test_development_defaults_point_at_the_local_stack(
    site: ServiceSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(site, monkeypatch)

    assert settings["SERVICE_NAME"] == site.service
    assert settings["DEBUG"] is True
    assert settings["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    db = settings["DATABASES"]["default"]
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == (
        "127.0.0.1",
        "5432",
        site.db_name,
        "postgres",
    )
    assert db["CONN_HEALTH_CHECKS"] is True
    assert settings["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert settings["SCHEMA_REGISTRY_URL"] == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert "eventing" in settings["INSTALLED_APPS"]
    assert "chassis" in settings["INSTALLED_APPS"]
    assert settings["EVENTING"]["SOURCE"] == f"/{site.service}"
    assert Path(settings["EVENTING"]["SCHEMA_ROOT"]).is_dir()
    assert settings["BASE_DIR"] == site.service_dir


@pytest.mark.unit
def test_endpoints_come_from_the_environment(site: ServiceSite, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        site,
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
    assert settings["EVENTING"]["KAFKA_BOOTSTRAP_SERVERS"] == "k1:9092,k2:9092"
    assert settings["EVENTING"]["SCHEMA_REGISTRY_URL"] == "http://registry:8081"


@pytest.mark.unit
def test_production_with_its_settings_starts(site: ServiceSite, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        site,
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
    site: ServiceSite, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=complaint):
        load_settings(site, monkeypatch, DJANGO_ENV="production", **env)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "value"),
    [("DJANGO_ENV", "staging"), ("DJANGO_DEBUG", "maybe"), ("LOG_FORMAT", "xml")],
)
def test_unknown_setting_values_are_refused(
    site: ServiceSite, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(site, monkeypatch, **{name: value})


@pytest.mark.unit
@pytest.mark.slow
def test_manage_py_refuses_to_run_in_production_with_defaults(site: ServiceSite) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV} | {"DJANGO_ENV": "production"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        check=False,
        cwd=site.service_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "Refusing to start with DJANGO_ENV=production" in result.stderr


@pytest.mark.unit
@pytest.mark.parametrize(("url", "expected"), DATABASE_URLS)
def test_database_url_parsing(
    site: ServiceSite, monkeypatch: pytest.MonkeyPatch, url: str, expected: dict[str, str]
) -> None:
    # Through the service's settings: its DATABASE_URL ends up in DATABASES as libpq needs it
    # (``chassis.env.database_from_url`` itself has unit tests in the chassis library).
    db = load_settings(site, monkeypatch, DATABASE_URL=url)["DATABASES"]["default"]

    assert {key: db[key] for key in expected} == expected
    assert db["OPTIONS"]["application_name"] == site.service


@pytest.mark.unit
@pytest.mark.parametrize("url", BAD_DATABASE_URLS)
def test_bad_database_urls_are_refused(site: ServiceSite, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        load_settings(site, monkeypatch, DATABASE_URL=url)


# --- logging --------------------------------------------------------------------------


def _log_record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("svc.test", logging.INFO, __file__, 1, "applied %s", ("event",), None)
    record.__dict__.update(extra)
    return record


def _configured_formatter(name: str) -> logging.Formatter:
    """The formatter the service's ``LOGGING`` setting names ``name`` (``json`` or ``text``)."""
    factory = import_string(django_settings.LOGGING["formatters"][name]["()"])
    formatter: logging.Formatter = factory()
    return formatter


@pytest.mark.unit
def test_json_log_lines_carry_extra_fields() -> None:
    line = _configured_formatter("json").format(
        _log_record(event_id="e-1", topic="t", partition=3, offset=42)
    )

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

    entry = json.loads(_configured_formatter("json").format(record))
    assert "ValueError: boom" in entry["exc_info"]


@pytest.mark.unit
def test_text_log_lines_carry_extra_fields() -> None:
    line = _configured_formatter("text").format(_log_record(event_id="e-1", offset=42))

    assert "applied event" in line
    assert "event_id=e-1 offset=42" in line


# --- gunicorn -------------------------------------------------------------------------


@pytest.mark.unit
def test_gunicorn_serves_the_service_on_the_loopback_interface(
    site: ServiceSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PORT", "WEB_CONCURRENCY", "LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)

    config = runpy.run_path(str(site.service_dir / "gunicorn.conf.py"))
    # Like gunicorn: every global named after one of its settings must be a valid value.
    gunicorn = Config()
    for name, value in config.items():
        if name in gunicorn.settings:
            gunicorn.set(name, value)

    module, _, attribute = config["wsgi_app"].partition(":")
    # find_spec locates the service's WSGI module without importing it (no eventing.startup()).
    assert (module, attribute) == (f"{Path(site.settings_file).parent.name}.wsgi", "application")
    assert importlib.util.find_spec(module) is not None
    assert config["proc_name"] == site.service
    assert config["bind"] == [f"127.0.0.1:{site.default_port}"]
    assert config["control_socket_disable"] is True
    assert config["logconfig_dict"]["handlers"]["stderr"]["formatter"] == "json"
    monkeypatch.setenv("PORT", "18999")
    assert runpy.run_path(str(site.service_dir / "gunicorn.conf.py"))["bind"] == ["127.0.0.1:18999"]


# --- metrics --------------------------------------------------------------------------


@pytest.mark.unit
def test_metrics_is_served_without_credentials(
    anonymous_api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    response = anonymous_api.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "# TYPE eventing_outbox_published_total counter" in response.content.decode()


# --- health ---------------------------------------------------------------------------


def check_failing() -> None:
    """A health check that always fails (dotted path for ``HEALTH_CHECKS``)."""
    raise ConnectionError("registry unreachable")


@pytest.mark.integration
@pytest.mark.django_db
def test_health_is_ok_without_credentials(site: ServiceSite, anonymous_api: APIClient, settings: Any) -> None:
    if site.offline_health_checks is not None:
        # Only these: Kafka, the registry and consumers are checked in e2e tests.
        settings.HEALTH_CHECKS = list(site.offline_health_checks)

    response = anonymous_api.get("/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.mark.integration
@pytest.mark.django_db
def test_health_can_run_a_subset_of_its_checks(anonymous_api: APIClient) -> None:
    # Whatever else the service checks (Kafka, the registry, a consumer that has not
    # reported), a readiness probe of the web process asks only for the database.
    response = anonymous_api.get("/health/?only=database")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.mark.integration
@pytest.mark.django_db
def test_health_refuses_an_unknown_check_name_and_lists_the_valid_ones(
    anonymous_api: APIClient, settings: Any
) -> None:
    settings.HEALTH_CHECKS = ["eventing.health.check_database", f"{__name__}.check_failing"]
    # A probe with a typo must not silently check nothing and report "ok"
    response = anonymous_api.get("/health/?only=database,bogus")

    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "errors": {"only": "unknown check(s): bogus; valid checks: database, failing"},
    }


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
        f"{__name__}.check_failing",
    ]

    response = anonymous_api.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "failing": "error"}
    assert body["errors"] == {"failing": "ConnectionError: registry unreachable"}


@pytest.mark.integration
@pytest.mark.django_db
def test_health_checks_may_be_callables_with_arguments(
    site: ServiceSite, anonymous_api: APIClient, settings: Any
) -> None:
    def check_consumer(group: str) -> None:
        raise RuntimeError(f"no consumer of group {group} has reported")

    offline_checks = site.offline_health_checks
    settings.HEALTH_CHECKS = [
        *(settings.HEALTH_CHECKS if offline_checks is None else offline_checks),
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
def test_openapi_schema_describes_the_api(site: ServiceSite, anonymous_api: APIClient) -> None:
    response = anonymous_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert set(schema["paths"]) >= set(site.api_paths)
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
def test_ensure_dev_superuser_creates_root_once(site: ServiceSite, anonymous_api: APIClient) -> None:
    out = io.StringIO()

    call_command("ensure_dev_superuser", stdout=out)
    call_command("ensure_dev_superuser", stdout=out)

    assert get_user_model().objects.filter(username="root", is_superuser=True).count() == 1
    assert "created" in out.getvalue()
    assert "already present" in out.getvalue()
    anonymous_api.credentials(HTTP_AUTHORIZATION="Basic cm9vdDpQQHNzdzByZDE=")  # root:P@ssw0rd1
    path, status = site.auth_probe
    assert anonymous_api.get(path).status_code == status


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
