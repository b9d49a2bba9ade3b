"""Kafka 4.3 broker: one KRaft node that is both broker and controller, on loopback.

The storage is formatted once with ``--standalone`` and a cluster id saved next to the data
(``data/kafka/cluster-id``), so topics and consumer offsets survive ``down``/``up``.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path

from stack.errors import StackError
from stack.jvm import kafka_java, write_log4j2, write_properties
from stack.settings import LOOPBACK, Settings

logger = logging.getLogger(__name__)

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
HEAP_MB = 512


def data_dir(settings: Settings) -> Path:
    """Everything the broker persists (its log dirs and the cluster id)."""
    return settings.paths.data / "kafka"


def server_properties(settings: Settings) -> Path:
    """The generated ``server.properties``."""
    return settings.paths.conf / "kafka" / "server.properties"


def argv(settings: Settings) -> list[str]:
    """The broker's command line."""
    return kafka_java(settings, HEAP_MB, "kafka", MAIN_CLASS, str(server_properties(settings)))


def write_config(settings: Settings) -> None:
    """Write ``server.properties`` and ``log4j2.properties`` for the current ports."""
    broker = f"{LOOPBACK}:{settings.ports['kafka']}"
    controller = f"{LOOPBACK}:{settings.ports['kafka-controller']}"
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": controller,
        "listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir(settings) / "logs"),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # KIP-848 groups (group.protocol=consumer): notice a dead member in 10 s, not 45 s, as
        # the classic protocol can with a client-side session.timeout.ms.
        "group.consumer.min.session.timeout.ms": "6000",
        "group.consumer.session.timeout.ms": "10000",
    }
    write_properties(server_properties(settings), properties, "Written by `stack up` on every start.")
    write_log4j2(settings)


def format_storage(settings: Settings) -> None:
    """Format the KRaft storage once (``--standalone``) with the saved (or a new) cluster id."""
    directory = data_dir(settings)
    if (directory / "logs" / "meta.properties").is_file():
        return
    directory.mkdir(parents=True, exist_ok=True)
    id_file = directory / "cluster-id"
    if not id_file.is_file():
        id_file.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=") + "\n")
    cluster_id = id_file.read_text().strip()
    logger.info("kafka: formatting storage with cluster id %s", cluster_id)
    command = kafka_java(
        settings,
        256,
        "kafka-format",
        STORAGE_TOOL,
        "format",
        "--standalone",
        "--ignore-formatted",
        "-t",
        cluster_id,
        "-c",
        str(server_properties(settings)),
    )
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise StackError(f"formatting Kafka storage failed: {lines[-1] if lines else result.returncode}")
