"""Thin clients for the infra tests: Kafka produce/consume, Connect REST."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from confluent_kafka import Consumer, Message, Producer

from stack.settings import Settings
from stack.testing import eventually


def produce(settings: Settings, topic: str, value: bytes, key: bytes | None = None) -> None:
    """Produce one message and wait until the broker acknowledged it."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all"})
    errors: list[object] = []
    producer.produce(topic, value=value, key=key, on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(30) == 0, "message not delivered within 30s"
    assert errors == [None], f"delivery failed: {errors}"


def consume(settings: Settings, topic: str, count: int, timeout: float = 60.0) -> list[Message]:
    """Read the first ``count`` messages of ``topic`` (from the earliest offset, fresh group)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{topic}.test-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    consumer.subscribe([topic])
    received: list[Message] = []

    def all_received() -> list[Message]:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            received.append(message)
        assert len(received) >= count, f"{len(received)}/{count} messages on {topic}"
        return received

    try:
        return eventually(all_received, timeout=timeout, interval=0)
    finally:
        consumer.close()


class ConnectRest:
    """The few Kafka Connect REST calls the tests need."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def put_config(self, name: str, config: dict[str, str]) -> None:
        """Create or update connector ``name``."""
        self._call("PUT", f"/connectors/{name}/config", config)

    def delete(self, name: str) -> None:
        """Delete connector ``name`` (no error when it does not exist)."""
        try:
            self._call("DELETE", f"/connectors/{name}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise

    def status(self, name: str) -> dict[str, Any]:
        """The connector's status document (``connector.state``, ``tasks[].state``)."""
        result = self._call("GET", f"/connectors/{name}/status")
        assert isinstance(result, dict)
        return result

    def assert_running(self, name: str) -> None:
        """Assert the connector and all its tasks are RUNNING (for :func:`eventually`)."""
        try:
            status = self.status(name)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"connector {name}: HTTP {exc.code}") from exc
        states = [status["connector"]["state"], *(t["state"] for t in status["tasks"])]
        assert status["tasks"], f"connector {name} has no task yet: {status}"
        assert set(states) == {"RUNNING"}, f"connector {name}: {status}"

    def _call(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (http to the local worker)
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            text = response.read()
        return json.loads(text) if text else None
