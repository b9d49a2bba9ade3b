"""The live flow page (``/eventing/flow/``) of the orders service, in headless Chromium.

The page's server runs in-process (pytest-django's ``live_server``, this worktree's code)
against the stack's Kafka and Connect; the event comes from the *running* orders service
(``ORDERS_PORT``, default 8002), whose order reaches Kafka through Debezium. Chromium and
chromedriver are Debian's, installed on first use (``stack.install.ensure_chromium``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from eventing.testing import eventually

PUBLISHED = "public_order_entity_events"
CDC = "private_orders_order_cdc"
GROUP = "orders.translator"


@pytest.mark.integration
def test_the_page_is_for_staff_only(client: Client, django_user_model: Any) -> None:
    page = client.get("/eventing/flow/")
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
    assert client.get("/eventing/flow/data/").status_code == 403

    client.force_login(django_user_model.objects.create_user("clerk", password="x" * 12))
    assert client.get("/eventing/flow/").status_code == 302  # logged in, but not staff
    assert client.get("/eventing/flow/data/").status_code == 403


@pytest.mark.e2e
def test_data_endpoint_reports_the_stack_and_a_dead_connect_or_kafka_as_errors(
    admin_client: Client, settings: Any
) -> None:
    data = admin_client.get("/eventing/flow/data/").json()
    assert {c["name"]: c["state"] for c in data["connectors"]["items"]} == {
        "orders-outbox": "RUNNING",
        "orders-cdc": "RUNNING",
    }
    topics = {t["topic"]: t for t in data["topics"]["items"]}
    # (0 on a fresh stack: nothing published yet, but the topic and its offsets are shown)
    assert topics[PUBLISHED]["role"] == "publishes" and topics[PUBLISHED]["end"] >= 0
    assert [g["group"] for g in data["groups"]["items"]] == [GROUP]
    assert f"{GROUP}.{CDC}.dlt" in {d["topic"] for d in data["dead_letters"]["items"]}

    # Nothing listens on port 9 of the loopback: the connectors section says so, the rest stands.
    settings.EVENTING = {**settings.EVENTING, "CONNECT_URL": "http://127.0.0.1:9"}
    response = admin_client.get("/eventing/flow/data/")
    assert response.status_code == 200
    data = response.json()
    assert "Kafka Connect unreachable" in data["connectors"]["error"]
    assert data["topics"]["error"] is None and data["topics"]["items"]

    # No broker there either: the three Kafka sections say so, the page still answers.
    settings.EVENTING = {**settings.EVENTING, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    response = admin_client.get("/eventing/flow/data/")
    assert response.status_code == 200
    data = response.json()
    for section in ("topics", "groups", "dead_letters"):
        assert data[section]["error"].startswith("Kafka: "), data[section]
    page = admin_client.get("/eventing/flow/")
    assert page.status_code == 200 and b"Kafka: " in page.content


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from stack.install import ensure_chromium

    chromium = ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium.browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromium.driver), options=options)
    yield driver
    driver.quit()


def value(browser: Any, element_id: str) -> str | None:
    """The ``data-value`` of the element with that id, as the page shows it now (None: absent)."""
    result: str | None = browser.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.dataset.value : null;", element_id
    )
    return result


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_page_renders_the_flow_and_an_end_offset_grows_without_reloading(
    browser: Any, live_server: Any, transactional_db: None
) -> None:
    get_user_model().objects.create_superuser("flow-admin", password="flow-admin-password")
    browser.get(f"{live_server.url}/admin/login/?next=/eventing/flow/")
    browser.find_element("name", "username").send_keys("flow-admin")
    browser.find_element("name", "password").send_keys("flow-admin-password")
    browser.find_element("css selector", "[type=submit]").click()
    eventually(
        lambda: browser.current_url.endswith("/eventing/flow/"), timeout=15, what="the flow page opens"
    )

    # Rendered by the server: every section, with real values.
    assert value(browser, "connector-state-orders-outbox") == "RUNNING"
    assert value(browser, "connector-state-orders-cdc") == "RUNNING"
    assert value(browser, "task-state-orders-cdc-0") == "RUNNING"
    before = int(value(browser, f"topic-end-{PUBLISHED}") or -1)
    assert before >= 0  # a number (0 on a fresh stack, where nothing was published yet)
    assert int(value(browser, f"group-lag-{GROUP}") or -1) >= 0
    assert value(browser, f"dlt-count-{GROUP}.{CDC}.dlt") is not None
    assert browser.find_elements("css selector", ".section-error") == []

    # A reload would lose this mark; the redraws must keep it.
    browser.execute_script("window.flowMark = 'not reloaded';")
    port = os.environ.get("ORDERS_PORT", "8002")
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/orders/",
        json={"customer_id": str(uuid.uuid4()), "item_count": 3},
        auth=(
            os.environ.get("DEV_SUPERUSER_USERNAME", "root"),
            os.environ.get("DEV_SUPERUSER_PASSWORD", "P@ssw0rd1"),
        ),
        timeout=30,
    )
    assert response.status_code == 201, response.text

    after = eventually(
        lambda: (v := int(value(browser, f"topic-end-{PUBLISHED}") or -1)) > before and v,
        timeout=60,
        what=f"the end offset of {PUBLISHED} on the page grows past {before}",
    )
    assert after > before
    assert browser.execute_script("return window.flowMark;") == "not reloaded"
    assert browser.find_element("id", "refresh-error").text == ""
