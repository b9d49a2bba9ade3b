"""``manage.py eventing_consume --group <service>.<purpose>``: run a consumer until SIGTERM."""

from __future__ import annotations

import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventing.conf import eventing_settings
from eventing.consumer.kafka import build_runner
from eventing.consumer.registry import registry
from eventing.exceptions import EventingError
from eventing.metrics import serve_metrics
from eventing.startup import startup

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Consume the topics of this service's handlers as consumer group GROUP: apply each "
        "event once (inbox), retry failures with backoff, dead-letter what cannot be handled. "
        "SIGTERM/SIGINT: finish the batch in hand, commit, exit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", required=True, help="Kafka consumer group, e.g. points.read-model")
        parser.add_argument(
            "--topic",
            action="append",
            dest="topics",
            metavar="TOPIC",
            help="Consume only this topic of the group's handlers (repeatable; default: all of them)",
        )

        parser.add_argument(
            "--metrics-port",
            type=int,
            metavar="PORT",
            help="Serve Prometheus metrics at http://<CONSUMER_METRICS_ADDRESS>:PORT/metrics "
            "(default: EVENTING['CONSUMER_METRICS_PORT']; unset: not served)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        group = options["group"]
        handlers = registry.for_group(group)
        if not handlers.all():
            raise CommandError(f"No handlers registered for group {group!r}")
        if options["topics"]:
            unknown = sorted(set(options["topics"]) - set(handlers.topics()))
            if unknown:
                raise CommandError(
                    f"No handler of group {group!r} consumes {', '.join(unknown)}; "
                    f"its topics are: {', '.join(handlers.topics())}"
                )
            handlers = handlers.for_topics(options["topics"])
        # First: a taken port fails before anything else starts.
        port = options["metrics_port"]
        if port is None:
            port = eventing_settings.CONSUMER_METRICS_PORT
        if port is not None:
            address = str(eventing_settings.CONSUMER_METRICS_ADDRESS)
            try:
                serve_metrics(int(port), address)
            except OSError as exc:
                raise CommandError(f"Cannot serve metrics on {address}:{port}: {exc}") from exc
        try:
            startup()
        except EventingError as exc:
            raise CommandError(f"Start-up failed: {exc}") from exc
        runner = build_runner(group, handlers)

        def request_stop(signum: int, _frame: Any) -> None:
            logger.info("signal %s: stopping after the batch in hand", signal.Signals(signum).name)
            runner.stop()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        runner.run()
