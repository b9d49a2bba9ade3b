from __future__ import annotations

import pytest
from gunicorn.config import Config

from chassis.gunicorn import config

pytestmark = pytest.mark.unit


def test_every_name_is_a_valid_gunicorn_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT", "LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    settings = config(service="shop", default_port=8004)
    gunicorn = Config()

    for name, value in settings.items():
        gunicorn.set(name, value)  # raises for an unknown name or an invalid value

    assert gunicorn.wsgi_app == "shop_site.wsgi:application"
    assert gunicorn.bind == ["127.0.0.1:8004"]
    assert (gunicorn.workers, gunicorn.timeout, gunicorn.graceful_timeout) == (2, 30, 30)
    assert gunicorn.proc_name == "shop"
    assert settings["logconfig_dict"]["handlers"]["stderr"]["formatter"] == "json"


def test_the_environment_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9100")
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    monkeypatch.setenv("LOG_FORMAT", " Text ")

    settings = config(service="shop", default_port=8004, project="shop_project")

    assert settings["bind"] == ["127.0.0.1:9100"]
    assert settings["workers"] == 4
    assert settings["wsgi_app"] == "shop_project.wsgi:application"
    assert settings["logconfig_dict"]["handlers"]["stderr"]["formatter"] == "text"
