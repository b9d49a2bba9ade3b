"""A small Kafka Connect REST client: apply idempotently, wait until RUNNING, report errors."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from eventing.connect.debezium import Connector
from eventing.exceptions import ConnectorError

logger = logging.getLogger(__name__)


class ConnectClient:
    """Talks to one Kafka Connect cluster (``EVENTING['CONNECT_URL']``)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ConnectorError(
                f"Kafka Connect unreachable at {self.url}: {exc}", context={"path": path}
            ) from exc

    def apply(self, connector: Connector) -> bool:
        """Create or update ``connector``; return True when something changed."""
        current = self._request("GET", f"/connectors/{connector.name}/config")
        if current.status_code == 200:
            existing = {k: v for k, v in current.json().items() if k != "name"}
            if existing == connector.config:
                return False
        response = self._request("PUT", f"/connectors/{connector.name}/config", json=connector.config)
        if response.status_code >= 400:
            raise ConnectorError(
                f"Kafka Connect refused connector config: {response.text}",
                context={"connector": connector.name, "status": response.status_code},
            )
        logger.info("connector applied", extra={"connector": connector.name})
        return True

    def status(self, name: str) -> dict[str, Any] | None:
        response = self._request("GET", f"/connectors/{name}/status")
        if response.status_code == 404:
            return None
        self._raise_for(response, name)  # e.g. 409 while the workers rebalance
        result: dict[str, Any] = response.json()
        return result

    def wait_running(self, name: str, *, timeout: float = 60.0, interval: float = 0.5) -> None:
        """Poll until the connector and all its tasks are RUNNING.

        Raises :class:`ConnectorError` carrying the task's stack trace if one FAILED, or a
        timeout error with the last status seen.
        """
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.status(name)
            if last is not None:
                states = [last["connector"]["state"], *(t["state"] for t in last.get("tasks", []))]
                failed = [t for t in last.get("tasks", []) if t["state"] == "FAILED"]
                if last["connector"]["state"] == "FAILED" or failed:
                    trace = (failed[0] if failed else last["connector"]).get("trace", "")
                    raise ConnectorError(f"Connector {name} failed:\n{trace}", context={"connector": name})
                if last.get("tasks") and all(s == "RUNNING" for s in states):
                    return
            time.sleep(interval)
        raise ConnectorError(f"Connector {name} not RUNNING after {timeout:.0f}s", context={"status": last})

    def offsets(self, name: str) -> list[dict[str, Any]]:
        """The connector's stored source offsets (``[{"partition": ..., "offset": ...}]``)."""
        response = self._request("GET", f"/connectors/{name}/offsets")
        if response.status_code == 404:
            return []
        self._raise_for(response, name)
        result: list[dict[str, Any]] = response.json().get("offsets", [])
        return result

    def restart(self, name: str, *, include_tasks: bool = True, only_failed: bool = False) -> None:
        """Restart the connector (and its tasks, or only its failed ones)."""
        params = {"includeTasks": str(include_tasks).lower(), "onlyFailed": str(only_failed).lower()}
        self._raise_for(self._request("POST", f"/connectors/{name}/restart", params=params), name)

    def stop(self, name: str) -> None:
        """Stop the connector and its tasks (its config and offsets stay)."""
        self._raise_for(self._request("PUT", f"/connectors/{name}/stop"), name)

    def resume(self, name: str) -> None:
        self._raise_for(self._request("PUT", f"/connectors/{name}/resume"), name)

    def reset_offsets(self, name: str) -> None:
        """Forget the stored offsets (the connector must be STOPPED)."""
        self._raise_for(self._request("DELETE", f"/connectors/{name}/offsets"), name)

    def wait_state(self, name: str, state: str, *, timeout: float = 60.0, interval: float = 0.5) -> None:
        """Poll until the connector reports ``state`` (e.g. ``STOPPED``)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.status(name)
            if last is not None and last["connector"]["state"] == state:
                return
            time.sleep(interval)
        raise ConnectorError(f"Connector {name} not {state} after {timeout:.0f}s", context={"status": last})

    def _raise_for(self, response: httpx.Response, name: str) -> None:
        if response.status_code >= 400:
            raise ConnectorError(
                f"Kafka Connect refused the request for {name}: {response.status_code} {response.text}",
                context={"connector": name},
            )

    def delete(self, name: str) -> bool:
        response = self._request("DELETE", f"/connectors/{name}")
        return response.status_code in (200, 204)

    def close(self) -> None:
        self._http.close()
