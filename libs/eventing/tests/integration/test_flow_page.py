"""``/eventing/flow/`` and its JSON against the real stack: each section, and each source failing alone.

Staff only: anonymous users are sent to the admin login (the page) or get a 403 (the JSON).
A source that is down (Kafka Connect, Kafka, the connector definitions, the database) turns
its own sections into an error message naming it; the other sections still show.
"""

from __future__ import annotations

import json
import os
import socket
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.db.utils import OperationalError
from django.test import RequestFactory, override_settings
from django.urls import path

from eventing.connect.debezium import Connector
from eventing.flow import flow_data, flow_page, latency_section, snapshot
from tests.settings import EVENTING

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("eventing/flow/", flow_page, name="eventing-flow"),
    path("eventing/flow/data/", flow_data, name="eventing-flow-data"),
]

TOPIC = os.environ["EVENTING_TESTS_TOPIC"]  # the test app publishes and consumes it
STAFF = SimpleNamespace(is_active=True, is_staff=True, is_authenticated=True)
KAFKA_SECTIONS = ("topics", "groups", "dead_letters")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def absent_connector() -> Connector:
    return Connector(name="eventing-tests-flow-absent", config={"slot.name": "eventing_tests_flow_absent"})


def get(view: Any, user: Any) -> Any:
    request = RequestFactory().get("/eventing/flow/")
    request.user = user
    return view(request)


@override_settings(ROOT_URLCONF=__name__)
def test_anonymous_users_are_sent_to_the_admin_login_or_refused() -> None:
    page = get(flow_page, AnonymousUser())
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/?next=")
    data = get(flow_data, AnonymousUser())
    assert data.status_code == 403
    assert json.loads(data.content) == {"error": "staff only: log in at the admin first"}


@override_settings(ROOT_URLCONF=__name__)
def test_a_logged_in_user_who_is_not_staff_is_refused_the_data() -> None:
    member = SimpleNamespace(is_active=True, is_staff=False, is_authenticated=True)
    assert get(flow_data, member).status_code == 403
    assert get(flow_page, member).status_code == 302


@override_settings(ROOT_URLCONF=__name__)
def test_staff_get_every_section_from_the_running_stack() -> None:
    response = get(flow_data, STAFF)
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    data = json.loads(response.content)
    assert {
        name: data[name]["error"] for name in ("connectors", *KAFKA_SECTIONS, "latency")
    } == dict.fromkeys(("connectors", *KAFKA_SECTIONS, "latency"))
    (topic,) = [t for t in data["topics"]["items"] if t["topic"] == TOPIC]
    assert topic["role"] == "publishes, consumes"
    assert topic["id"] == f"topic-end-{TOPIC}"


@override_settings(ROOT_URLCONF=__name__)
def test_the_page_renders_for_staff_with_its_data_url() -> None:
    response = get(flow_page, STAFF)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/eventing/flow/data/" in html
    assert f"<td>{TOPIC}</td><td>publishes, consumes</td>" in html  # (the topic may not exist yet)


def test_connect_down_is_the_connectors_error_only() -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    connectors = [f"{__name__}.absent_connector"]
    with override_settings(EVENTING={**EVENTING, "CONNECT_URL": down, "CONNECTORS": connectors}):
        data = snapshot()
    assert data["connectors"]["error"].startswith(
        f"Kafka Connect: ConnectorError: Kafka Connect unreachable at {down}"
    )
    assert data["connectors"]["items"] == []
    assert all(data[name]["error"] is None for name in KAFKA_SECTIONS)


def test_a_connector_connect_does_not_have_is_listed_as_missing() -> None:
    with override_settings(EVENTING={**EVENTING, "CONNECTORS": [f"{__name__}.absent_connector"]}):
        data = snapshot()
    (item,) = data["connectors"]["items"]
    assert (item["name"], item["state"], item["tasks"]) == ("eventing-tests-flow-absent", "MISSING", [])


def test_unimportable_connector_definitions_are_the_connectors_error_only() -> None:
    with override_settings(EVENTING={**EVENTING, "CONNECTORS": [f"{__name__}.nowhere"]}):
        data = snapshot()
    assert data["connectors"]["error"].startswith("connector definitions: ConfigurationError:")
    assert f"{__name__}.nowhere" in data["connectors"]["error"]
    assert data["topics"]["error"] is None


def test_kafka_down_is_the_error_of_its_three_sections_only() -> None:
    with override_settings(EVENTING={**EVENTING, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}):
        data = snapshot()
    for name in KAFKA_SECTIONS:
        assert data[name]["error"].startswith("Kafka: "), data[name]
        assert data[name]["items"] == []
    assert data["connectors"]["error"] is None
    assert data["latency"]["error"] is None


def test_the_database_down_is_the_latency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventing.inbox.models import ConsumerStatus

    class Down:
        def order_by(self, *fields: str) -> Any:
            raise OperationalError('connection to server at "127.0.0.1", port 5432 failed')

    monkeypatch.setattr(ConsumerStatus, "objects", Down())
    section = latency_section()
    assert section == {
        "error": 'database: OperationalError: connection to server at "127.0.0.1", port 5432 failed',
        "items": [],
    }
