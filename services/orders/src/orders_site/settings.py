"""Settings of the orders service; every value comes from the environment.

The common settings (and the refusal of insecure defaults with ``DJANGO_ENV=production``)
are the chassis' (``chassis.settings``). Its own: two Debezium connectors (the outbox, and the
capture of ``orders_order`` that its translator consumes), and health checks that include
Kafka, the registry and that translator.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from chassis.settings import eventing_config, service_settings
from eventing.health import check_consumer

_chassis = service_settings(
    service="orders",
    app="orders",
    base_dir=Path(__file__).resolve().parents[2],
    database="orders",
    api_title="Orders service API",
    api_description="Orders; changes reach other services through change data capture.",
)
globals().update(_chassis)

# This service's part in the event flow; the stack's endpoints come from the environment.
EVENTING = eventing_config(
    _chassis,
    source="/orders",
    connectors=["eventing.connect.defaults.outbox", "orders.connectors.order_capture"],
    consumer_groups=["orders.translator"],
)
# The translator (this service's only consumer) takes up to 2,000 changes a transaction: its
# batch handler writes them with one outbox statement, so a backlog drains in big batches
# (benchmarks/bench_translator.py; decision 0013).
EVENTING["CONSUMER_BATCH_SIZE"] = 2000

# Callables (or dotted paths) run by GET /health/; each raises to report failure.
HEALTH_CHECKS = [
    "eventing.health.check_database",
    "eventing.health.check_kafka",
    "eventing.health.check_schema_registry",
    partial(check_consumer, "orders.translator"),
    "eventing.cdc.check_cdc",  # both connectors run; their slots hold every undelivered event
]
