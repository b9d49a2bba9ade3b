"""Django app config: autodiscovers ``<app>/events.py`` and ``<app>/handlers.py``."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class EventingConfig(AppConfig):
    name = "eventing"
    verbose_name = "Eventing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from eventing import checks  # noqa: F401 - registers system checks

        autodiscover_modules("events")
        autodiscover_modules("handlers")
