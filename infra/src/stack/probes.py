"""Readiness probes: one cheap check of "does this component answer like it should".

A probe is a callable that returns ``None`` when the component is ready and raises
:class:`NotReady` (with a short reason) when it is not. :func:`wait_until_ready` polls a probe
until a deadline, as mirakuru's executors do, instead of sleeping a fixed time.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
"""Seconds between two probe attempts while waiting."""


class NotReady(Exception):
    """A probe's answer: the component is not (yet) ready, and why."""


Probe = Callable[[], None]
"""Returns when the component is ready; raises :class:`NotReady` otherwise."""


@dataclass(frozen=True)
class TcpProbe:
    """Ready when a TCP connection to ``host:port`` is accepted."""

    host: str
    port: int
    timeout: float = 2.0

    def __call__(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout):
                return
        except OSError as exc:
            raise NotReady(f"{self.host}:{self.port}: {exc.strerror or exc}") from exc


@dataclass(frozen=True)
class HttpProbe:
    """Ready when ``GET url`` answers 200 (and, if given, the body contains ``contains``)."""

    url: str
    contains: str | None = None
    timeout: float = 3.0

    def __call__(self) -> None:
        body = http_get(self.url, timeout=self.timeout)
        if self.contains is not None and self.contains not in body:
            raise NotReady(f"{self.url} does not list {self.contains} yet")


@dataclass(frozen=True)
class PostgresProbe:
    """Ready when ``SELECT 1`` succeeds over TCP with the given libpq connection string."""

    conninfo: str

    def __call__(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise NotReady(_first_line(str(exc))) from exc


@dataclass(frozen=True)
class KafkaProbe:
    """Ready when a metadata request to ``bootstrap_servers`` is answered with a broker list."""

    bootstrap_servers: str
    timeout: float = 3.0

    def __call__(self) -> None:
        # log_level 0: librdkafka would print a line per refused connection while we poll.
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise NotReady(f"{self.bootstrap_servers}: {exc.args[0]}") from exc
        if not metadata.brokers:
            raise NotReady(f"{self.bootstrap_servers}: no broker in the metadata")


@dataclass(frozen=True)
class AllProbes:
    """Ready when every probe is ready, checked in order."""

    probes: Sequence[Probe]

    def __call__(self) -> None:
        for probe in self.probes:
            probe()


def http_get(url: str, timeout: float = 3.0) -> str:
    """``GET url`` and return the body; raise :class:`NotReady` unless the status is 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            return str(response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        raise NotReady(f"{url} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotReady(f"{url}: {reason}") from exc


def http_json(url: str, timeout: float = 3.0) -> object:
    """``GET url`` and decode the JSON body; raise :class:`NotReady` on any failure."""
    body = http_get(url, timeout=timeout)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise NotReady(f"{url} did not answer JSON") from exc


def check(probe: Probe) -> str | None:
    """Run ``probe`` once: ``None`` when ready, else the reason it is not."""
    try:
        probe()
    except NotReady as exc:
        return str(exc)
    return None


def wait_until_ready(
    probe: Probe,
    timeout: float,
    still_alive: Callable[[], bool] = lambda: True,
) -> str | None:
    """Poll ``probe`` until it is ready (return ``None``), the deadline passes or ``still_alive``
    turns false (return the last reason it was not ready)."""
    deadline = time.monotonic() + timeout
    reason = check(probe)
    while reason is not None:
        if time.monotonic() >= deadline:
            return reason
        if not still_alive():
            return f"process exited ({reason})"
        time.sleep(POLL_INTERVAL)
        reason = check(probe)
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
