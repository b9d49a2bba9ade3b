"""The flow page's snapshot: sections assembled from Connect and Kafka (fakes), errors per source."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from django.template.loader import render_to_string

from eventing.connect.debezium import Connector
from eventing.consumer import kafka as kafka_module
from eventing.consumer.kafka import StatusReporter
from eventing.consumer.runner import Counters
from eventing.exceptions import ConnectorError
from eventing.flow import ServiceFlow, connectors_section, kafka_sections

pytestmark = pytest.mark.unit

FLOW = ServiceFlow(
    published=["out"],
    consumed=["in"],
    groups={"svc.reader": ["in"]},
    dead_letter_template="{group}.{topic}.dlt",
)


class FakeConnect:
    def __init__(self, statuses: dict[str, dict[str, Any] | None], *, down: bool = False) -> None:
        self.statuses = statuses
        self.down = down

    def status(self, name: str) -> dict[str, Any] | None:
        if self.down:
            raise ConnectorError("Kafka Connect unreachable at http://connect:8083: connection refused")
        return self.statuses.get(name)


class FakeKafka:
    def __init__(
        self,
        topics: dict[str, list[int]],
        marks: dict[tuple[str, int], tuple[int, int]],
        committed: dict[str, dict[tuple[str, int], int]],
    ) -> None:
        self._topics, self.marks, self._committed = topics, marks, committed

    def topics(self) -> dict[str, list[int]]:
        return self._topics

    def watermarks(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
        return {key: self.marks[key] for key in partitions}

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        return self._committed.get(group, {})

    def members(self, group: str) -> int:
        return 1


class DownKafka(FakeKafka):
    def __init__(self) -> None:
        super().__init__({}, {}, {})

    def topics(self) -> dict[str, list[int]]:
        raise RuntimeError('KafkaError{code=_TRANSPORT,val=-195,str="Failed to get metadata"}')


def connector(name: str) -> Connector:
    return Connector(name=name, config={"slot.name": name.replace("-", "_")})


def test_connectors_show_connector_and_task_states_and_a_missing_connector() -> None:
    client = FakeConnect(
        {
            "svc-outbox": {
                "connector": {"state": "RUNNING", "worker_id": "w:8083"},
                "tasks": [{"id": 0, "state": "FAILED", "worker_id": "w:8083", "trace": "boom\n at x"}],
            }
        }
    )
    section = connectors_section(
        [connector("svc-outbox"), connector("svc-cdc")],
        client,
        findings=lambda c: [SimpleNamespace(id="CDC110", severity="error", message="task FAILED: boom")],
    )
    assert section["error"] is None
    outbox, cdc = section["items"]
    assert (outbox["state"], outbox["tasks"][0]["state"], outbox["tasks"][0]["trace"]) == (
        "RUNNING",
        "FAILED",
        "boom",
    )
    assert outbox["findings"][0]["id"] == "CDC110"
    assert (cdc["state"], cdc["tasks"]) == ("MISSING", [])


def test_connect_down_is_an_error_of_the_section_not_an_exception() -> None:
    section = connectors_section([connector("svc-outbox")], FakeConnect({}, down=True))
    assert section["items"] == []
    assert "Kafka Connect unreachable" in section["error"]


def test_an_error_status_from_connect_is_an_error_of_the_section() -> None:
    class Rebalancing(FakeConnect):
        def status(self, name: str) -> dict[str, Any] | None:
            request = httpx.Request("GET", f"http://connect:8083/connectors/{name}/status")
            raise httpx.HTTPStatusError(
                "500 Internal Server Error", request=request, response=httpx.Response(500)
            )

    section = connectors_section([connector("svc-outbox")], Rebalancing({}))
    assert "500 Internal Server Error" in section["error"]


def test_a_failing_doctor_is_reported_on_its_connector() -> None:
    def broken(c: Connector) -> list[Any]:
        raise OSError("database gone")

    client = FakeConnect({"svc-outbox": {"connector": {"state": "RUNNING"}, "tasks": []}})
    item = connectors_section([connector("svc-outbox")], client, findings=broken)["items"][0]
    assert item["state"] == "RUNNING"
    assert "database gone" in item["findings"][0]["message"]


def test_topics_groups_and_dead_letters_from_offsets() -> None:
    kafka = FakeKafka(
        topics={"in": [0, 1], "out": [0], "svc.reader.in.dlt": [0], "unrelated": [0]},
        marks={
            ("in", 0): (0, 10),
            ("in", 1): (4, 9),
            ("out", 0): (0, 7),
            ("svc.reader.in.dlt", 0): (1, 3),
        },
        committed={"svc.reader": {("in", 0): 8}},  # partition 1 never committed
    )
    sections = kafka_sections(FLOW, kafka)
    topics = {t["topic"]: t for t in sections["topics"]["items"]}
    assert set(topics) == {"in", "out", "svc.reader.in.dlt"}
    assert (topics["in"]["end"], topics["in"]["start"], topics["in"]["role"]) == (19, 4, "consumes")
    assert (topics["out"]["end"], topics["out"]["role"]) == (7, "publishes")
    assert topics["svc.reader.in.dlt"]["role"] == "dead letters"
    assert topics["in"]["id"] == "topic-end-in"

    (group,) = sections["groups"]["items"]
    lags = {(p["topic"], p["partition"]): (p["committed"], p["lag"]) for p in group["partitions"]}
    # committed 8 of 10; no commit: everything still in the log (9 - 4)
    assert lags == {("in", 0): (8, 2), ("in", 1): (None, 5)}
    assert (group["lag"], group["members"], group["id"]) == (7, 1, "group-lag-svc.reader")

    (dead,) = sections["dead_letters"]["items"]
    assert (dead["topic"], dead["count"], dead["id"]) == (
        "svc.reader.in.dlt",
        2,
        "dlt-count-svc.reader.in.dlt",
    )


def test_a_topic_that_does_not_exist_yet_is_listed_as_such() -> None:
    sections = kafka_sections(FLOW, FakeKafka({"in": [0]}, {("in", 0): (0, 0)}, {}))
    topics = {t["topic"]: t for t in sections["topics"]["items"]}
    assert topics["out"]["exists"] is False
    assert sections["dead_letters"]["items"] == []


def test_kafka_down_turns_its_three_sections_into_errors() -> None:
    sections = kafka_sections(FLOW, DownKafka())
    for name in ("topics", "groups", "dead_letters"):
        assert sections[name]["items"] == []
        assert "Failed to get metadata" in sections[name]["error"]


def test_the_page_renders_each_error_and_the_numbers_with_their_ids() -> None:
    kafka = kafka_sections(
        FLOW, FakeKafka({"in": [0], "out": [0]}, {("in", 0): (0, 3), ("out", 0): (0, 5)}, {})
    )
    flow = {
        "generated_at": datetime.now(UTC).isoformat(),
        "connectors": {"error": "Kafka Connect: unreachable", "items": []},
        **kafka,
        "latency": {"error": "database: gone", "items": []},
    }
    html = render_to_string(
        "eventing/flow.html", {"flow": flow, "service": "svc", "data_url": "/d/", "refresh_ms": 2000}
    )
    assert "Kafka Connect: unreachable" in html
    assert "database: gone" in html
    assert 'id="topic-end-out" data-value="5"' in html
    assert 'id="group-lag-svc.reader" data-value="3"' in html
    assert "http://" not in html and "https://" not in html  # nothing loaded from elsewhere


def test_status_reporter_writes_the_mean_latency_of_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(kafka_module, "record_status", lambda runner, **kw: written.append(kw))
    monkeypatch.setattr(kafka_module, "purge_dead_status_rows", lambda: 0)
    counters = Counters()
    fake = SimpleNamespace(counters=counters, closed=True, group="g")
    reporter = StatusReporter()
    reporter(fake)  # type: ignore[arg-type]
    assert written[-1]["latency"] is None
    counters.latency_seconds, counters.latency_events = 0.3, 2
    reporter(fake)  # type: ignore[arg-type]
    assert written[-1]["latency"] == pytest.approx(0.15)
    counters.latency_seconds, counters.latency_events = 0.3 + 0.9, 3
    reporter(fake)  # type: ignore[arg-type]
    assert written[-1]["latency"] == pytest.approx(0.9)
    measured = written[-1]["latency_at"]
    reporter(fake)  # type: ignore[arg-type]  # nothing applied since: the last value stays
    assert (written[-1]["latency"], written[-1]["latency_at"]) == (pytest.approx(0.9), measured)
