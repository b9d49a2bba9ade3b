"""System checks of the chassis' settings: a bad ``CHASSIS_AUTH`` fails ``manage.py check``
and start-up with a message naming the key, not the first request with a traceback."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def check_auth_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``chassis.E001``: ``CHASSIS_AUTH`` is malformed; ``chassis.E002``: its failure cache is
    not a configured cache alias."""
    from chassis.auth_conf import AuthSettings

    try:
        config = AuthSettings.from_mapping(getattr(settings, "CHASSIS_AUTH", {}))
    except (TypeError, ValueError) as error:
        return [checks.Error(str(error), id="chassis.E001", obj="CHASSIS_AUTH")]
    if config.failure_limit and config.failure_cache not in settings.CACHES:
        return [
            checks.Error(
                f"CHASSIS_AUTH['FAILURE_CACHE'] names the cache {config.failure_cache!r}, "
                "which is not in CACHES.",
                hint="Add it to CACHES (a LocMemCache with MAX_ENTRIES bounds memory), "
                "or set FAILURE_LIMIT to 0 to disable the lockout.",
                id="chassis.E002",
                obj="CHASSIS_AUTH",
            )
        ]
    return []
