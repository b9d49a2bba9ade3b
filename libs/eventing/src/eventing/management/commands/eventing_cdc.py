"""``manage.py eventing_cdc doctor|recover``: replication slots and connectors, checked and healed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventing import cdc
from eventing.conf import eventing_settings
from eventing.connect.client import ConnectClient
from eventing.exceptions import ConfigurationError, EventingError
from eventing.management.commands.eventing_connectors import configured_connectors


class Command(BaseCommand):
    help = (
        "doctor: check this service's Debezium connectors and replication slots (a lost or "
        "recreated slot names the gap of undelivered events); exit 1 on an error finding. "
        "recover CONNECTOR: get a connector whose slot was lost back to a complete stream "
        "(outbox: re-emit the kept rows of the gap; table capture: snapshot again)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["doctor", "recover"])
        parser.add_argument("connector", nargs="?", help="connector name (recover)")
        parser.add_argument("--dry-run", action="store_true", help="recover: print the plan, change nothing")
        parser.add_argument(
            "--since",
            type=datetime.fromisoformat,
            help="recover: re-emit outbox rows created since this ISO time (default: the gap's start)",
        )
        parser.add_argument(
            "--margin",
            type=float,
            default=300.0,
            help="recover: seconds before the gap's start to re-emit from too (default 300)",
        )
        parser.add_argument(
            "--url", default=None, help="Kafka Connect URL (default: EVENTING['CONNECT_URL'])"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            connectors = {c.name: c for c in configured_connectors()}
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        client = ConnectClient(options["url"] or eventing_settings.CONNECT_URL)
        try:
            if options["action"] == "doctor":
                self._doctor(list(connectors.values()), client)
            else:
                name = options["connector"]
                if name not in connectors:
                    known = ", ".join(connectors) or "none"
                    raise CommandError(f"unknown connector {name!r}; this service's connectors: {known}")
                self._recover(connectors[name], client, options)
        except EventingError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            client.close()

    def _doctor(self, connectors: list[Any], client: ConnectClient) -> None:
        findings = cdc.doctor(connectors, client)
        for finding in findings:
            self.stdout.write(str(finding))
        errors = [f for f in findings if f.severity == cdc.ERROR]
        warnings = len(findings) - len(errors)
        self.stdout.write(f"{len(connectors)} connectors checked: {len(errors)} errors, {warnings} warnings")
        if errors:
            raise CommandError(f"{len(errors)} error findings")

    def _recover(self, connector: Any, client: ConnectClient, options: dict[str, Any]) -> None:
        since = options["since"]
        result = cdc.recover(
            connector,
            client,
            since=since,
            margin=timedelta(seconds=options["margin"]),
            dry_run=options["dry_run"],
        )
        if result.gap is not None:
            self.stdout.write(f"{connector.name}: gap {result.gap.describe()} ({result.gap.reason})")
        for step in result.steps:
            self.stdout.write(f"  {'would ' if options['dry_run'] else ''}{step}")
        if not options["dry_run"]:
            done = f"re-emitted {result.reemitted} outbox rows" if not result.snapshot else "snapshot started"
            self.stdout.write(f"{connector.name}: recovered, RUNNING; {done}")
