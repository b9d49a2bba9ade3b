"""``manage.py eventing_purge``: delete old inbox (and kept outbox) rows."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventing.conf import eventing_settings
from eventing.inbox.purge import purge_inbox, purge_outbox


class Command(BaseCommand):
    help = "Delete inbox rows older than the retention (and, with --outbox, kept outbox rows)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            help="seconds (default: EVENTING['INBOX_RETENTION'])",
        )
        parser.add_argument("--outbox", action="store_true", help="also purge kept outbox rows")

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = options["older_than"]
        if older_than is None:
            older_than = float(eventing_settings.INBOX_RETENTION)
        elif older_than < 0:  # "rows older than the future" would be every row
            raise CommandError(f"--older-than must be a number of seconds >= 0, got {older_than:g}")
        deleted = purge_inbox(older_than=older_than)
        self.stdout.write(f"inbox: {deleted} rows deleted")
        if options["outbox"]:
            self.stdout.write(f"outbox: {purge_outbox(older_than=older_than)} rows deleted")
