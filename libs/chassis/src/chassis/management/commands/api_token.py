"""``manage.py api_token USERNAME``: the API token of a (service) client, for
``Authorization: Token <key>``.

Prints the user's token, creating it if it has none. ``--create-user`` creates the user when
missing, with an unusable password (a service account: tokens only, no basic auth, no admin
login); ``--reset`` replaces an existing token (the old key stops working at once).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of USERNAME (creating one if needed), for the header "
        "'Authorization: Token <key>'. --create-user makes a token-only service account; "
        "--reset replaces the key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--create-user",
            action="store_true",
            help="create the user if missing (unusable password: it can use tokens only)",
        )
        parser.add_argument("--reset", action="store_true", help="replace an existing token")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        """Print the key alone on stdout, so ``key=$(manage.py api_token svc)`` works."""
        username: str = options["username"]
        user_model = get_user_model()
        lookup = {user_model.USERNAME_FIELD: username}
        user = user_model._default_manager.filter(**lookup).first()
        if user is None:
            if not options["create_user"]:
                raise CommandError(f"No user {username!r}; pass --create-user to create a service account.")
            user = user_model._default_manager.create_user(**lookup, password=None)
            self.stderr.write(f"Created service account {username!r} (token only, no password).")
        if options["reset"]:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if created:
            self.stderr.write(f"Issued a new token for {username!r}.")
        self.stdout.write(token.key)
