"""Process start-up: resolve schema ids before the first request or message."""

from __future__ import annotations

import logging

from eventing.conf import eventing_settings
from eventing.runtime import ResolvedSchema
from eventing.schemas import register

logger = logging.getLogger(__name__)


def startup(*, register_missing: bool | None = None) -> list[ResolvedSchema]:
    """Register (or look up) the schemas of every owned event type and cache their ids.

    Call it once per process before traffic: from ``wsgi.py`` after Django is set up, and
    the consumer command does it itself. A registry that is unreachable or refuses a schema
    raises here, so the process fails to start loudly instead of failing requests later.
    """
    if register_missing is None:
        register_missing = bool(eventing_settings.REGISTER_SCHEMAS_ON_STARTUP)
    resolved = register(register_missing=register_missing)
    for item in resolved:
        logger.info("schema ready", extra={"subject": item.subject, "schema_id": item.schema_id})
    return resolved
