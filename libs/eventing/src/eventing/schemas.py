"""Registering the schemas of owned event types, and gating incompatible changes.

Runs before traffic: at process start-up (:func:`eventing.startup`) or as a deploy step
(``manage.py eventing_schemas register``). After it, publishing needs no registry call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from eventing.conf import eventing_settings
from eventing.events import EventType, catalog
from eventing.exceptions import ConfigurationError, EventingError, IncompatibleSchema
from eventing.runtime import ResolvedSchema, get_registry, runtime
from eventing.serialization.avro import canonical_json, parse_schema
from eventing.serialization.registry import COMPATIBILITY_LEVELS, AbstractSchemaRegistry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubjectPlan:
    """One subject to register: its schema text and the event types that use it."""

    subject: str
    text: str
    event_types: tuple[EventType, ...]


def plan(event_types: Iterable[EventType]) -> list[SubjectPlan]:
    """Group event types by subject; all types of one subject must share one schema."""
    root = eventing_settings.schema_root()
    by_subject: dict[str, tuple[str, list[EventType]]] = {}
    for event_type in event_types:
        text = canonical_json(event_type.load_schema(root))
        parse_schema(text)  # fail early on an invalid schema file
        existing = by_subject.get(event_type.subject)
        if existing is None:
            by_subject[event_type.subject] = (text, [event_type])
        elif existing[0] != text:
            raise ConfigurationError(
                "Event types sharing a topic must share one schema",
                context={"subject": event_type.subject, "event_type": event_type.type},
            )
        else:
            existing[1].append(event_type)
    return [
        SubjectPlan(subject=s, text=t, event_types=tuple(types))
        for s, (t, types) in sorted(by_subject.items())
    ]


def _set_compatibility(registry: AbstractSchemaRegistry, subject: str, level: str) -> None:
    try:
        registry.set_compatibility(subject, level)
    except EventingError as exc:
        # A registry may refuse per-subject config before the subject exists.
        if exc.context.get("status") != 404:
            raise


def check(
    event_types: Iterable[EventType] | None = None,
    *,
    registry: AbstractSchemaRegistry | None = None,
) -> dict[str, list[str]]:
    """Compatibility problems per subject of the owned schemas ({} when all are fine)."""
    registry = registry or get_registry()
    problems: dict[str, list[str]] = {}
    for item in plan(event_types if event_types is not None else catalog.owned()):
        found = registry.compatibility_problems(item.subject, item.text)
        if found:
            problems[item.subject] = found
    return problems


def register(
    event_types: Iterable[EventType] | None = None,
    *,
    registry: AbstractSchemaRegistry | None = None,
    compatibility: str | None = None,
    register_missing: bool = True,
) -> list[ResolvedSchema]:
    """Resolve (and, if allowed, register) the schema id of each owned event type.

    For each subject: set its compatibility level, refuse an incompatible schema with the
    registry's reasons, register, and cache the id so that ``publish()`` is CPU-only.
    With ``register_missing=False`` an unregistered schema is an error (look-up only).
    """
    registry = registry or get_registry()
    level = (compatibility or eventing_settings.SCHEMA_COMPATIBILITY).upper()
    if level not in COMPATIBILITY_LEVELS:
        raise ConfigurationError(
            f"Unknown compatibility level {level!r}",
            context={"allowed": sorted(COMPATIBILITY_LEVELS)},
        )
    resolved: list[ResolvedSchema] = []
    for item in plan(event_types if event_types is not None else catalog.owned()):
        schema_id = registry.lookup(item.subject, item.text)
        if schema_id is None:
            if not register_missing:
                raise ConfigurationError(
                    "Schema is not registered and registration is disabled",
                    context={"subject": item.subject},
                )
            _set_compatibility(registry, item.subject, level)
            problems = registry.compatibility_problems(item.subject, item.text)
            if problems:
                raise IncompatibleSchema(
                    f"Schema for {item.subject} is incompatible ({level}): " + "; ".join(problems),
                    messages=problems,
                    context={"subject": item.subject, "compatibility": level},
                )
            schema_id = registry.register(item.subject, item.text)
            logger.info(
                "registered schema",
                extra={"subject": item.subject, "schema_id": schema_id},
            )
        _set_compatibility(registry, item.subject, level)
        parsed = parse_schema(item.text)
        for event_type in item.event_types:
            result = ResolvedSchema(item.subject, schema_id, parsed, item.text)
            runtime.remember(event_type, result)
        resolved.append(ResolvedSchema(item.subject, schema_id, parsed, item.text))
    return resolved
