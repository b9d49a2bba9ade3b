"""Settings of the customers service; every value comes from the environment.

The common settings (and the refusal of insecure defaults with ``DJANGO_ENV=production``)
are the chassis' (``chassis.settings``). Its own: every customer change is published through
the outbox (Debezium's outbox connector); its health is its database's and its connector's.
"""

from __future__ import annotations

from pathlib import Path

from chassis.settings import eventing_config, service_settings

_chassis = service_settings(
    service="customers",
    app="customers",
    base_dir=Path(__file__).resolve().parents[2],
    database="customer",
    api_title="Customers service API",
    api_description="Customers; every change is published as a customer event.",
)
globals().update(_chassis)

# This service's part in the event flow; the stack's endpoints come from the environment.
EVENTING = eventing_config(
    _chassis,
    source="/customers",
    connectors=["eventing.connect.defaults.outbox"],
)

# Callables (or dotted paths) run by GET /health/; each raises to report failure.
# "cdc": its outbox connector runs and its replication slot holds every undelivered event.
HEALTH_CHECKS = ["eventing.health.check_database", "eventing.cdc.check_cdc"]
