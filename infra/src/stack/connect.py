"""Kafka Connect 4.3 worker in distributed mode, with Debezium's Postgres connector.

Connectors, their offsets and status live in three Kafka topics, so they survive a restart of
the worker. The plugin directory holds Debezium plus Apicurio's ``AvroConverter`` (see
``docs/stack.md`` for why it is the 2.6 converter).
"""

from __future__ import annotations

from pathlib import Path

from stack.jvm import connect_plugins, kafka_java, write_log4j2, write_properties
from stack.settings import LOOPBACK, Settings

MAIN_CLASS = "org.apache.kafka.connect.cli.ConnectDistributed"
HEAP_MB = 512
GROUP_ID = "stack-connect"
POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"
DEBEZIUM_PLUGIN_DIR = "debezium-connector-postgres"


def worker_properties(settings: Settings) -> Path:
    """The generated worker configuration."""
    return settings.paths.conf / "connect" / "worker.properties"


def argv(settings: Settings) -> list[str]:
    """The worker's command line."""
    return kafka_java(settings, HEAP_MB, "connect", MAIN_CLASS, str(worker_properties(settings)))


def write_config(settings: Settings) -> None:
    """Write the worker properties for the current ports and Kafka (ours or attached)."""
    port = settings.ports["connect"]
    # With our single broker the internal topics need replication factor 1; on an attached
    # cluster -1 lets the brokers' default apply.
    replication = "-1" if settings.kafka_attach else "1"
    properties = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": GROUP_ID,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "config.storage.topic": f"{GROUP_ID}-configs",
        "offset.storage.topic": f"{GROUP_ID}-offsets",
        "status.storage.topic": f"{GROUP_ID}-status",
        "config.storage.replication.factor": replication,
        "offset.storage.replication.factor": replication,
        "status.storage.replication.factor": replication,
        "offset.flush.interval.ms": "1000",
        # When the worker loses its group membership (e.g. the broker stalls longer than the
        # session timeout) it rejoins as a new member, and the leader holds the "lost"
        # connectors and tasks UNASSIGNED for this long, waiting for the old member to come
        # back (default 5 min). One worker never comes back: reassign after 10 s.
        "scheduled.rebalance.max.delay.ms": "10000",
        "listeners": f"http://{LOOPBACK}:{port}",
        "rest.advertised.host.name": LOOPBACK,
        "rest.advertised.port": str(port),
        "plugin.path": str(connect_plugins(settings)),
        "topic.creation.enable": "true",
    }
    write_properties(worker_properties(settings), properties, "Written by `stack up` on every start.")
    write_log4j2(settings)
