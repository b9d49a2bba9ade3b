"""``/metrics`` of a multi-worker web server: the sum over every worker process.

Gunicorn's workers each write their values to ``PROMETHEUS_MULTIPROC_DIR``; a scrape reaches
one worker, whose view must report the whole server (``docs/metrics.md``). Two real worker
processes publish here, one has exited before the scrape.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from eventing.metrics import MULTIPROC_DIR_ENV, metrics_view

pytestmark = pytest.mark.integration

LIBRARY = Path(__file__).resolve().parents[2]
WORKER = (
    "import sys, django; django.setup(); "
    "from eventing.metrics import count_published; count_published('mp-topic', 'mp_event', int(sys.argv[1]))"
)


def worker_publishes(directory: Path, count: int) -> None:
    env = {
        **os.environ,
        MULTIPROC_DIR_ENV: str(directory),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(LIBRARY),
    }
    subprocess.run([sys.executable, "-c", WORKER, str(count)], cwd=LIBRARY, env=env, check=True, timeout=60)


def published() -> float | None:
    response = metrics_view(RequestFactory().get("/metrics"))
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if sample.name == "eventing_outbox_published_total" and sample.labels.get("topic") == "mp-topic":
                return sample.value
    return None


def test_the_scrape_sums_the_counts_of_every_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    worker_publishes(tmp_path, 2)
    worker_publishes(tmp_path, 3)
    assert published() is None  # this process (no multiprocess mode) counted nothing
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(tmp_path))
    assert published() == 5


def test_an_empty_directory_serves_no_samples_but_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(tmp_path))
    response = metrics_view(RequestFactory().get("/metrics"))
    assert response.status_code == 200
    assert published() is None
