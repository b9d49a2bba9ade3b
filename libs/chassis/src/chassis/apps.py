"""Django app config: makes the chassis' management commands available to every service."""

from __future__ import annotations

from django.apps import AppConfig


class ChassisConfig(AppConfig):
    name = "chassis"
    label = "chassis"
    verbose_name = "Service chassis"
