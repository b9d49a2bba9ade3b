from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from chassis.env import database_from_url, env_bool, env_int, env_list, env_str
from chassis.testing.site_contract import BAD_DATABASE_URLS, DATABASE_URLS

pytestmark = pytest.mark.unit


def test_env_str_keeps_an_empty_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHASSIS_X", raising=False)
    assert env_str("CHASSIS_X", "default") == "default"
    monkeypatch.setenv("CHASSIS_X", "")
    assert env_str("CHASSIS_X", "default") == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), (" yes ", True), ("on", True), ("0", False), ("off", False), ("", False)],
)
def test_env_bool_understands_the_usual_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("CHASSIS_FLAG", raw)

    assert env_bool("CHASSIS_FLAG", default=not expected) is expected


def test_env_bool_refuses_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHASSIS_FLAG", raising=False)
    assert env_bool("CHASSIS_FLAG", default=True) is True
    monkeypatch.setenv("CHASSIS_FLAG", "flase")

    with pytest.raises(ImproperlyConfigured, match="CHASSIS_FLAG='flase' is not a boolean"):
        env_bool("CHASSIS_FLAG", default=False)


def test_env_int(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHASSIS_N", raising=False)
    assert env_int("CHASSIS_N", 7) == 7
    monkeypatch.setenv("CHASSIS_N", "  ")
    assert env_int("CHASSIS_N", 7) == 7
    monkeypatch.setenv("CHASSIS_N", "42")
    assert env_int("CHASSIS_N", 7) == 42
    monkeypatch.setenv("CHASSIS_N", "4x")
    with pytest.raises(ImproperlyConfigured, match="CHASSIS_N='4x' is not an integer"):
        env_int("CHASSIS_N", 7)


def test_env_list(monkeypatch: pytest.MonkeyPatch) -> None:
    default = ["a"]
    monkeypatch.delenv("CHASSIS_L", raising=False)
    unset = env_list("CHASSIS_L", default)
    assert unset == ["a"]
    assert unset is not default
    monkeypatch.setenv("CHASSIS_L", " x, ,y ,")
    assert env_list("CHASSIS_L", default) == ["x", "y"]
    monkeypatch.setenv("CHASSIS_L", "")
    assert env_list("CHASSIS_L", default) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        *DATABASE_URLS,
        ("pgsql://a%40b:p%2Fw@h/my%20db", {"USER": "a@b", "PASSWORD": "p/w", "NAME": "my db"}),
    ],
)
def test_database_url_parsing(url: str, expected: dict[str, str]) -> None:
    parsed = database_from_url(url, conn_max_age=60, application_name="svc")

    assert {key: parsed[key] for key in expected} == expected
    assert parsed["ENGINE"] == "django.db.backends.postgresql"
    assert parsed["OPTIONS"]["application_name"] == "svc"
    assert (parsed["CONN_MAX_AGE"], parsed["CONN_HEALTH_CHECKS"]) == (60, True)


def test_database_url_query_parameters_are_libpq_options() -> None:
    parsed = database_from_url(
        "postgresql://h/db?sslmode=require&connect_timeout=1&port=6000",
        conn_max_age=0,
        application_name="svc",
    )

    assert parsed["OPTIONS"] == {"sslmode": "require", "connect_timeout": "1", "application_name": "svc"}
    assert parsed["PORT"] == "6000"


@pytest.mark.parametrize(
    ("url", "complaint"),
    list(zip(BAD_DATABASE_URLS, ["scheme 'mysql'", "invalid port", "no database name"], strict=True)),
)
def test_bad_database_urls_are_refused(url: str, complaint: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=complaint):
        database_from_url(url, conn_max_age=0, application_name="svc")
