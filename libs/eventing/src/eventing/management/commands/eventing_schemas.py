"""``manage.py eventing_schemas [register|check]``: the schema compatibility gate."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventing import schemas
from eventing.exceptions import EventingError, IncompatibleSchema


class Command(BaseCommand):
    help = (
        "register: set each owned subject's compatibility level and register its schema, "
        "refusing an incompatible change. check: only report incompatibilities (exit 1)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", default="register", choices=["register", "check"])
        parser.add_argument(
            "--compatibility",
            default=None,
            help="level (default: EVENTING['SCHEMA_COMPATIBILITY'])",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "check":
                self._check()
            else:
                for item in schemas.register(compatibility=options["compatibility"]):
                    self.stdout.write(f"{item.subject}: schema id {item.schema_id}")
        except IncompatibleSchema as exc:
            raise CommandError(
                "Incompatible schema change refused:\n  "
                + "\n  ".join(exc.messages or [str(exc)])
                + f"\n({exc.context})"
            ) from exc
        except EventingError as exc:
            raise CommandError(str(exc)) from exc

    def _check(self) -> None:
        problems = schemas.check()
        if not problems:
            self.stdout.write("all owned schemas are compatible")
            return
        lines = [f"{subject}: {msg}" for subject, msgs in problems.items() for msg in msgs]
        raise CommandError("Incompatible schema changes:\n  " + "\n  ".join(lines))
