"""The outbox table, in the layout the Debezium EventRouter reads.

Each row is one event. Its columns become the Kafka record: ``topic`` routes it, ``key``
is the record key, ``payload`` (Confluent-framed Avro) the value, and the remaining
columns CloudEvents headers (see ``eventing.connect``). Debezium reads the insert from the
WAL; the row is kept for ``OUTBOX_RETENTION`` (purged by the outbox connector's heartbeat) so
that the events of a lost replication slot can be re-emitted (``eventing.cdc``), unless
``OUTBOX_DELETE_AFTER_INSERT`` deletes it in the inserting transaction.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class OutboxEvent(models.Model):
    """One event waiting in the write-ahead log for Debezium."""

    id = models.UUIDField(primary_key=True)
    """CloudEvents ``id``: unique per event; consumers deduplicate on it."""
    topic = models.TextField()
    """Destination Kafka topic (the EventRouter's ``route.by.field``)."""
    key = models.TextField()
    """Kafka record key: the aggregate id, so one aggregate's events stay in order."""
    type = models.TextField()
    """CloudEvents ``type`` (header ``ce_type``), e.g. ``customer_entity_state``."""
    source = models.TextField()
    """CloudEvents ``source`` (header ``ce_source``): the publishing service."""
    specversion = models.TextField(default="1.0")
    """CloudEvents ``specversion`` (header ``ce_specversion``)."""
    time = models.TextField()
    """CloudEvents ``time`` as RFC 3339 text (header ``ce_time``)."""
    content_type = models.TextField(default="application/avro")
    """Media type of the payload (header ``content-type``)."""
    dataschema = models.TextField(null=True, blank=True)
    """CloudEvents ``dataschema``: URI of the writer schema in the registry."""
    traceparent = models.TextField(null=True, blank=True)
    """W3C trace context of the publishing span (header ``traceparent``), if any."""
    payload = models.BinaryField()
    """The event data: magic byte, 4-byte schema id, Avro body."""
    created_at = models.DateTimeField(db_default=models.Func(function="clock_timestamp"))
    """Insert time (per statement, so it orders events of one transaction): what retention
    and re-emission after a lost slot go by."""

    class Meta:
        db_table = "eventing_outbox"
        verbose_name = "outbox event"
        indexes = [models.Index(fields=["created_at"], name="eventing_outbox_created_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.id} -> {self.topic}"


class Heartbeat(models.Model):
    """One row per database, updated by Debezium's ``heartbeat.action.query``.

    The write makes WAL in an otherwise idle database, so its replication slot advances
    and does not pin WAL produced by other databases on the same server.
    """

    id = models.PositiveSmallIntegerField(primary_key=True)
    beat_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "eventing_heartbeat"

    def __str__(self) -> str:
        return f"heartbeat {self.id} at {self.beat_at}"
