"""``manage.py eventing_dlt list|redrive --group G``: see and retry a group's dead letters."""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventing.conf import eventing_settings
from eventing.consumer.runner import ProducerPort
from eventing.redrive.dead_letters import (
    DEFAULT_MAX_REDRIVES,
    DeadLetter,
    RedriveError,
    Selection,
    TopicSource,
    kafka_producer,
    kafka_source,
    list_dead_letters,
    plan_redrive,
    redrive,
)
from eventing.runtime import get_codec


class Command(BaseCommand):
    help = (
        "List the dead letters of consumer group GROUP (decoded through the registry, with "
        "their dlt.* reason and origin), or redrive chosen ones to their source topic: the "
        "group's consumer then applies each once. A dead letter whose event was redriven "
        "--max-redrives times is refused unless --force. Every redrive is recorded "
        "(table eventing_redrive)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="list the group's dead letters and their status")
        again = sub.add_parser("redrive", help="send selected dead letters back to their source topic")
        for p in (listing, again):
            p.add_argument("--group", required=True, help="consumer group, e.g. points.read-model")
            p.add_argument(
                "--max-redrives",
                type=int,
                default=DEFAULT_MAX_REDRIVES,
                help=f"loop guard: redrives of one event before it is refused (default {DEFAULT_MAX_REDRIVES})",  # noqa: E501
            )
        listing.add_argument("--json", action="store_true", help="one JSON object per line, with the data")
        again.add_argument(
            "--id",
            action="append",
            dest="ids",
            default=[],
            metavar="ID",
            help="event id (ce_id), or dead-letter position [DLT_TOPIC:]PARTITION:OFFSET (repeatable)",
        )
        again.add_argument("--reason", help="every dead letter with this dlt.reason, e.g. handler_failed")
        again.add_argument("--all", action="store_true", help="every pending dead letter")
        again.add_argument("--dry-run", action="store_true", help="say what would be redriven; send nothing")
        again.add_argument("--force", action="store_true", help="override the loop guard and re-send")

    def source(self) -> TopicSource:
        return kafka_source()

    def producer(self) -> ProducerPort:
        return kafka_producer()

    def handle(self, *args: Any, **options: Any) -> None:
        group = options["group"]
        if options["max_redrives"] < 1:
            raise CommandError("--max-redrives must be at least 1")
        try:
            letters = list_dead_letters(
                group,
                self.source(),
                get_codec(),
                template=str(eventing_settings.DEAD_LETTER_TOPIC),
                max_redrives=options["max_redrives"],
            )
            if options["action"] == "list":
                self._list(group, letters, as_json=options["json"])
            else:
                self._redrive(group, letters, options)
        except RedriveError as exc:
            raise CommandError(str(exc)) from exc

    def _list(self, group: str, letters: list[DeadLetter], *, as_json: bool) -> None:
        if as_json:
            for letter in letters:
                self.stdout.write(json.dumps(letter.summary(), default=str))
            return
        if not letters:
            self.stdout.write(f"No dead letters for group {group}.")
            return
        for letter in letters:
            self.stdout.write(_line(letter))
        pending = sum(1 for x in letters if x.status == "pending")
        self.stdout.write(f"{len(letters)} dead letters, {pending} pending.")

    def _redrive(self, group: str, letters: list[DeadLetter], options: dict[str, Any]) -> None:
        selection = Selection(ids=options["ids"], reason=options["reason"], all=options["all"])
        plan = plan_redrive(letters, selection, force=options["force"])
        if not plan:
            raise CommandError(f"No dead letter of group {group} matches the selection")
        for item in plan:
            verb = item.action if not (item.redrives and options["dry_run"]) else "would redrive"
            self.stdout.write(f"{verb}: {_line(item.letter)}")
        if options["dry_run"]:
            self.stdout.write(f"Dry run: {sum(i.redrives for i in plan)} would be redriven, nothing sent.")
            return
        records = redrive(
            group, plan, self.producer(), force=options["force"], redriven_by=f"cli:{getpass.getuser()}"
        )
        self.stdout.write(f"Redrove {len(records)} of {len(plan)} selected dead letters.")
        if not records:
            raise CommandError("Nothing was redriven (see the reasons above)")


def _line(letter: DeadLetter) -> str:
    return (
        f"{letter.topic} {letter.position} [{letter.status}] {letter.event_id} {letter.event_type} "
        f"reason={letter.reason} redrives={letter.redrive_count} "
        f"from={letter.original_topic}/{letter.original_partition}/{letter.original_offset} "
        f"failed_at={letter.headers.get('dlt.failed_at')} {letter.exception}"
    )
