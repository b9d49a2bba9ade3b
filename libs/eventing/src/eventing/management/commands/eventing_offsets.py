"""``manage.py eventing_offsets reset --group G --to-earliest|--to-datetime T``: replay a group."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventing.conf import eventing_settings
from eventing.consumer.registry import registry
from eventing.exceptions import EventingError
from eventing.offsets import reset_offsets


def _aware_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"--to-datetime {value!r} is not an ISO 8601 time (e.g. 2026-12-03T12:00:00Z)"
        ) from exc
    if parsed.tzinfo is None:
        raise CommandError(f"--to-datetime {value!r} has no time zone; add one, e.g. Z or +01:00")
    return parsed


class Command(BaseCommand):
    help = (
        "Move a STOPPED consumer group's committed offsets to the beginning of its topics or "
        "to a point in time, so that its next consumer replays from there (the inbox skips "
        "what was applied or dead-lettered). Refused while the group has active members."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        reset = sub.add_parser("reset", help="reset the group's offsets")
        reset.add_argument("--group", required=True, help="consumer group, e.g. points.read-model")
        where = reset.add_mutually_exclusive_group(required=True)
        where.add_argument("--to-earliest", action="store_true", help="the beginning of each partition")
        where.add_argument(
            "--to-datetime", metavar="T", help="the first event at or after T (ISO 8601 with zone)"
        )
        reset.add_argument(
            "--topic",
            action="append",
            dest="topics",
            default=[],
            metavar="TOPIC",
            help="only this topic (repeatable; default: the topics the group committed or handles)",
        )
        reset.add_argument("--dry-run", action="store_true", help="print the moves; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        group = options["group"]
        when = _aware_datetime(options["to_datetime"]) if options["to_datetime"] else None
        try:
            moves = reset_offsets(
                eventing_settings.kafka_config(),
                group,
                topics=options["topics"],
                to_datetime=when,
                fallback_topics=registry.for_group(group).topics(),
                dry_run=options["dry_run"],
            )
        except EventingError as exc:
            raise CommandError(str(exc)) from exc
        for move in moves:
            before = "none" if move.before is None else move.before
            self.stdout.write(f"{move.topic} [{move.partition}] {before} -> {move.after}")
        verb = "Would move" if options["dry_run"] else "Moved"
        self.stdout.write(f"{verb} {len(moves)} partition offsets of group {group}.")
