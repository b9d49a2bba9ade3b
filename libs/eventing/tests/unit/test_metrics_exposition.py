"""``/metrics`` as Prometheus reads it: the metrics of ``docs/metrics.md``, named, typed, labelled.

The documentation's table is the contract dashboards and alerts are written against, so it is
parsed here and compared with what the view exports: a renamed metric, a changed label or an
undocumented metric fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import RequestFactory
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from eventing import metrics
from eventing.events import Event
from eventing.metrics import count_published, event_time, metrics_view

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[4] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(eventing_[a-z_]+)` \| (counter|histogram|gauge) \| ([^|]+) \|", re.MULTILINE)
SUFFIXES = {"counter": "_total", "histogram": "", "gauge": ""}


def documented() -> dict[str, tuple[str, list[str]]]:
    """{exported name: (type, labels)} from the table of docs/metrics.md."""
    rows = ROW.findall(DOC.read_text())
    assert rows, f"no metric rows found in {DOC}"
    return {name: (kind, re.findall(r"`([a-z_]+)`", labels)) for name, kind, labels in rows}


def defined() -> dict[str, Counter | Gauge | Histogram]:
    """The library's metric objects, by exported name."""
    found: dict[str, Counter | Gauge | Histogram] = {}
    for value in vars(metrics).values():
        if isinstance(value, (Counter, Gauge, Histogram)):
            kind = value._type
            found[value._name + SUFFIXES.get(kind, "")] = value
    return found


def scrape() -> dict[str, str]:
    """{family name: type} of what GET /metrics serves."""
    response = metrics_view(RequestFactory().get("/metrics"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {f.name: f.type for f in text_string_to_metric_families(response.content.decode())}


def test_every_documented_metric_is_defined_with_its_type_and_labels_and_nothing_else() -> None:
    docs = documented()
    code = {name: (metric._type, list(metric._labelnames)) for name, metric in defined().items()}
    assert code == docs


def test_the_view_exports_every_documented_metric_under_its_type() -> None:
    families = scrape()
    for name, (kind, _) in documented().items():
        family = name.removesuffix("_total")  # the parser names a counter's family without it
        assert families.get(family) == kind, name


def test_a_committed_publish_is_a_sample_with_its_topic_and_type() -> None:
    def value() -> float:
        response = metrics_view(RequestFactory().get("/metrics"))
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                if sample.name == "eventing_outbox_published_total" and sample.labels == {
                    "topic": "metrics-test",
                    "type": "scraped_event",
                }:
                    return sample.value
        return 0.0

    before = value()
    count_published("metrics-test", "scraped_event", 3)
    assert value() == before + 3


def event(time: object) -> Event:
    return Event(id="1", type="t", source="/s", data={}, key="k", topic="t", partition=0, offset=0, time=time)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-12-03T12:00:00Z", "2026-12-03T12:00:00+00:00"),
        ("2026-12-03T13:00:00+01:00", "2026-12-03T13:00:00+01:00"),
        ("2026-12-03T12:00:00", "2026-12-03T12:00:00+00:00"),  # naive: taken as UTC
        ("yesterday", None),  # unparseable: no latency observed, no crash
        (None, None),
        (1700000000, None),
    ],
)
def test_the_event_time_latency_is_measured_from(moment: object, expected: str | None) -> None:
    parsed = event_time(event(moment))
    assert (parsed.isoformat() if parsed else None) == expected
