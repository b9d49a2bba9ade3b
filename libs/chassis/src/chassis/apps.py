"""Django app config: the chassis' management commands and system checks for every service."""

from __future__ import annotations

from django.apps import AppConfig


class ChassisConfig(AppConfig):
    name = "chassis"
    label = "chassis"
    verbose_name = "Service chassis"

    def ready(self) -> None:
        # Registered on import: the system checks, the OpenAPI description of the auth classes.
        from chassis import checks, schema  # noqa: F401
