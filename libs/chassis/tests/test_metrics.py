"""``/metrics``: served by every service, summed over gunicorn's workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import resolve
from gunicorn.config import Config

from chassis.gunicorn import config
from eventing.metrics import metrics_view

pytestmark = pytest.mark.unit

# What one gunicorn worker does when its request publishes an event (the counter is written
# to the multiprocess directory, since the variable is set before prometheus_client loads).
_WORKER = "from eventing.metrics import count_published; count_published('t_topic', 't_type')"


def test_metrics_is_the_eventing_view() -> None:
    assert resolve("/metrics").func is metrics_view


def test_metrics_is_prometheus_text_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    response = Client().get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    for metric in (
        "eventing_events_consumed_total",
        "eventing_consumer_lag",
        "eventing_outbox_published_total",
    ):
        assert f"# HELP {metric.removesuffix('_total')}" in body


def test_metrics_sum_every_worker_in_multiprocess_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two worker processes that each published an event (3 in all)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for times in (1, 2):
        code = "\n".join([_WORKER] * times)
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    # When any worker serves /metrics with the directory gunicorn gave it
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    body = Client().get("/metrics").content.decode()
    # Then the scrape shows the sum, not one worker's share
    assert 'eventing_outbox_published_total{topic="t_topic",type="t_type"} 3.0' in body


def test_gunicorn_gives_workers_a_metrics_directory_and_empties_it_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("PORT", "18123")
    settings = config(service="shop", default_port=8004)
    gunicorn = Config()
    for name, value in settings.items():
        gunicorn.set(name, value)
    (directory,) = (v for k, v in gunicorn.env.items() if k == "PROMETHEUS_MULTIPROC_DIR")
    assert directory.endswith("eventing-metrics-shop-18123")  # one per service and port

    # An explicit directory wins; a previous run's files are removed when gunicorn starts
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "m"))
    settings = config(service="shop", default_port=8004)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "counter_999.db").write_bytes(b"stale")
    settings["on_starting"](None)
    assert settings["raw_env"] == [f"PROMETHEUS_MULTIPROC_DIR={tmp_path / 'm'}"]
    assert list((tmp_path / "m").iterdir()) == []
