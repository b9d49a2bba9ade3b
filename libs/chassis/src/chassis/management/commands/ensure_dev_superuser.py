"""``manage.py ensure_dev_superuser``: the development superuser, idempotently.

The local stack runs it on every start, so the seed's ``root / P@ssw0rd1`` credentials work
against a fresh database; it refuses with ``DJANGO_ENV=production``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Development only: make sure the superuser DEV_SUPERUSER_USERNAME / "
        "DEV_SUPERUSER_PASSWORD (default root / P@ssw0rd1) exists and can log in. "
        "Refuses with DJANGO_ENV=production."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """Create or repair the superuser; report whether it was created, updated or present."""
        environment = getattr(settings, "DJANGO_ENV", "development")
        if environment != "development":
            raise CommandError(
                "Refusing to create the development superuser with "
                f"DJANGO_ENV={environment}; "
                "create production accounts with `manage.py createsuperuser`."
            )
        username = getattr(settings, "DEV_SUPERUSER_USERNAME", "root")
        password = getattr(settings, "DEV_SUPERUSER_PASSWORD", "P@ssw0rd1")
        user_model = get_user_model()
        user, created = user_model._default_manager.get_or_create(
            **{user_model.USERNAME_FIELD: username},
            defaults={"is_staff": True, "is_superuser": True, "is_active": True},
        )
        changed = created
        if not (user.is_staff and user.is_superuser and user.is_active):
            user.is_staff = user.is_superuser = user.is_active = True
            changed = True
        if not user.check_password(password):
            user.set_password(password)
            changed = True
        if changed:
            user.save()
        state = "created" if created else ("updated" if changed else "already present")
        self.stdout.write(f"Development superuser {username!r} {state}.")
