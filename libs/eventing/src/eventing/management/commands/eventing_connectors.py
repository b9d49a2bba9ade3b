"""``manage.py eventing_connectors [apply|status|delete|show|supervise]``: Debezium connectors as code."""

from __future__ import annotations

import json
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from eventing.conf import eventing_settings
from eventing.connect.client import ConnectClient
from eventing.connect.debezium import Connector
from eventing.exceptions import ConfigurationError, EventingError


def configured_connectors() -> list[Connector]:
    """Call each path in ``EVENTING['CONNECTORS']``; each returns a Connector or a list.

    An entry that does not import raises :class:`ConfigurationError` naming it.
    """
    result: list[Connector] = []
    for path in eventing_settings.CONNECTORS:
        try:
            factory = import_string(path)
        except ImportError as exc:
            raise ConfigurationError(f"EVENTING['CONNECTORS']: cannot import {path!r}: {exc}") from exc
        made = factory()
        result.extend(made if isinstance(made, list) else [made])
    return result


class Command(BaseCommand):
    help = (
        "Apply the connectors in EVENTING['CONNECTORS'] to Kafka Connect (create or update), "
        "wait until they and their tasks are RUNNING, and print a failed task's error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action", nargs="?", default="apply", choices=["apply", "status", "delete", "show", "supervise"]
        )
        parser.add_argument(
            "--max-restarts", type=int, default=8, help="supervise: restarts per episode before giving up"
        )
        parser.add_argument("--interval", type=float, default=5.0, help="supervise: seconds between checks")
        parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for RUNNING")
        parser.add_argument(
            "--url", default=None, help="Kafka Connect URL (default: EVENTING['CONNECT_URL'])"
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            metavar="PORT",
            help="supervise: serve Prometheus metrics (eventing_connector_restarts_total) at "
            "http://<CONSUMER_METRICS_ADDRESS>:PORT/metrics",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            connectors = configured_connectors()
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        if options["action"] == "show":
            for connector in connectors:
                self.stdout.write(json.dumps({"name": connector.name, "config": connector.config}, indent=2))
            return
        client = ConnectClient(options["url"] or eventing_settings.CONNECT_URL)
        if options["action"] == "supervise":
            if options["metrics_port"] is not None:
                from eventing.metrics import serve_metrics

                address = str(eventing_settings.CONSUMER_METRICS_ADDRESS)
                try:
                    serve_metrics(options["metrics_port"], address)
                except OSError as exc:
                    client.close()
                    raise CommandError(
                        f"Cannot serve metrics on {address}:{options['metrics_port']}: {exc}"
                    ) from exc
            try:
                self._supervise(client, connectors, options)
            finally:
                client.close()
            return
        try:
            for connector in connectors:
                self._act(client, connector, options)
        except EventingError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            client.close()

    def _act(self, client: ConnectClient, connector: Connector, options: dict[str, Any]) -> None:
        action = options["action"]
        if action == "apply":
            changed = client.apply(connector)
            client.wait_running(connector.name, timeout=options["timeout"])
            verb = "applied" if changed else "unchanged"
            self.stdout.write(f"{connector.name}: {verb}, RUNNING")
        elif action == "status":
            status = client.status(connector.name)
            if status is None:
                self.stdout.write(f"{connector.name}: absent")
            else:
                tasks = ", ".join(t["state"] for t in status.get("tasks", [])) or "no tasks"
                self.stdout.write(f"{connector.name}: {status['connector']['state']} ({tasks})")
        elif action == "delete":
            deleted = client.delete(connector.name)
            self.stdout.write(f"{connector.name}: {'deleted' if deleted else 'absent'}")

    def _supervise(self, client: ConnectClient, connectors: list[Connector], options: dict[str, Any]) -> None:
        """Watch the connectors until SIGTERM/SIGINT: restart FAILED or stuck ones, give up loudly."""
        from eventing import cdc
        from eventing.connect.supervisor import ConnectorSupervisor, record_supervision

        def slot_lost(connector: Connector) -> bool:
            return cdc.find_gap(connector, client) is not None

        supervisor = ConnectorSupervisor(
            client,
            connectors,
            max_restarts=options["max_restarts"],
            slot_lost=slot_lost,
            record=record_supervision,
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        supervisor.run(stop, interval=options["interval"])
