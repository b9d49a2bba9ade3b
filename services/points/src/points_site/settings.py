"""Settings of the points service; every value comes from the environment.

The common settings come from the chassis (``chassis.settings``). Points publishes nothing
(no connectors); its health includes Kafka, the registry and the consumer of its read model.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from chassis.settings import eventing_config, service_settings
from eventing.health import check_consumer

_chassis = service_settings(
    service="points",
    app="points",
    base_dir=Path(__file__).resolve().parents[2],
    database="points",
    api_title="Points service API",
    api_description="Points awarded to customers, from a read model fed by events.",
)
globals().update(_chassis)

# This service's part in the event flow; the stack's endpoints come from the environment.
EVENTING = eventing_config(
    _chassis,
    source="/points",
    connectors=[],
    consumer_groups=["points.read-model"],
)

# Callables (or dotted paths) run by GET /health/; each raises to report failure.
HEALTH_CHECKS = [
    "eventing.health.check_database",
    "eventing.health.check_kafka",
    "eventing.health.check_schema_registry",
    partial(check_consumer, "points.read-model"),
]
