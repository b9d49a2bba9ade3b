"""``eventing.health``: each dependency check passes against the real stack and, when that
dependency is down or failing, raises an error that says which one and why.

The service's ``/health/`` view (``chassis.health``) reports ``"<ExceptionType>: <message>"``
per failing check with a 503, so the message is what an operator reads first.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaException
from django.test import override_settings

from eventing.health import check_consumer, check_database, check_kafka, check_schema_registry
from tests.settings import EVENTING

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def failing_registry() -> Iterator[str]:
    """A registry URL whose every request is answered 503 (a registry restarting)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"error_code": 50301, "message": "starting"}'
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/apis/ccompat/v7"
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_the_database_check_passes() -> None:
    check_database()


def test_the_kafka_and_registry_checks_pass_against_the_stack() -> None:
    check_kafka()
    check_schema_registry()


def test_kafka_down_fails_within_the_timeout() -> None:
    with override_settings(EVENTING={**EVENTING, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"}):
        started = time.monotonic()
        with pytest.raises(KafkaException):
            check_kafka(timeout=1.0)
    assert time.monotonic() - started < 10  # a probe must not hang on a dead broker


def test_a_registry_that_is_down_fails_naming_its_address() -> None:
    port = closed_port()
    with (
        override_settings(
            EVENTING={**EVENTING, "SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{port}/apis/ccompat/v7"}
        ),
        pytest.raises(httpx.ConnectError),
    ):
        check_schema_registry(timeout=1.0)


def test_a_registry_answering_an_error_fails_with_the_status_and_url(failing_registry: str) -> None:
    with (
        override_settings(EVENTING={**EVENTING, "SCHEMA_REGISTRY_URL": failing_registry + "/"}),
        pytest.raises(httpx.HTTPStatusError) as caught,
    ):
        check_schema_registry()
    assert "503" in str(caught.value)
    assert f"{failing_registry}/subjects" in str(caught.value)  # the trailing slash is not doubled


@pytest.mark.django_db
def test_a_group_that_never_reported_is_unhealthy_by_name() -> None:
    with pytest.raises(RuntimeError, match=r"no consumer of group tests\.never-ran has reported"):
        check_consumer("tests.never-ran")
