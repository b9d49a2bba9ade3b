"""Inbox rows (processed event ids) and consumer status rows."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class InboxStatus(models.TextChoices):
    APPLIED = "applied", "applied"
    DEAD_LETTERED = "dead_lettered", "dead-lettered"


class InboxEntry(models.Model):
    """An event a consumer group has finished with.

    Inserted in the same transaction as the handler's effects, before the handler runs
    (``INSERT ... ON CONFLICT DO NOTHING RETURNING``): a redelivered event, or the same event
    handled concurrently by a second member during a rebalance, finds the row and is
    skipped, so its effect happens exactly once.
    """

    pk = models.CompositePrimaryKey("consumer_group", "event_id")
    consumer_group = models.TextField()
    """The Kafka consumer group (one read model may be fed by several groups)."""
    event_id = models.TextField()
    """CloudEvents id, or a stable id derived from a raw (CDC) record."""
    topic = models.TextField()
    """Where the event was read, for diagnosis."""
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    status = models.TextField(choices=InboxStatus.choices, default=InboxStatus.APPLIED)
    """``applied``, or ``dead_lettered`` when retries were exhausted."""
    processed_at = models.DateTimeField(db_default=Now())
    """When it was recorded; rows older than ``INBOX_RETENTION`` are purged."""

    class Meta:
        db_table = "eventing_inbox"
        verbose_name = "inbox entry"
        verbose_name_plural = "inbox entries"
        indexes = [models.Index(fields=["processed_at"], name="eventing_inbox_processed")]

    def __str__(self) -> str:
        return f"{self.consumer_group}: {self.event_id} ({self.status})"


class ConsumerStatus(models.Model):
    """Liveness and progress of one running consumer process, for health checks.

    Each consumer upserts its row every few seconds; a health endpoint reports a group
    whose newest row is stale as unhealthy.
    """

    member = models.TextField(primary_key=True)
    """``<group>/<host>/<pid>``."""
    consumer_group = models.TextField(db_index=True)
    host = models.TextField()
    pid = models.IntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    """Last time the consumer loop reported in."""
    applied = models.BigIntegerField(default=0)
    duplicates = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)
    retried = models.BigIntegerField(default=0)
    dead_lettered = models.BigIntegerField(default=0)
    held = models.IntegerField(default=0)
    """Events currently held back for retry (per-key order)."""
    lag = models.BigIntegerField(null=True)
    """Messages behind the end of the assigned partitions, when known."""
    progressed_at = models.DateTimeField(null=True)
    """Last time the member applied, skipped or dead-lettered an event, or had nothing to do
    (lag 0 or unknown): a live member with lag whose ``progressed_at`` is old is stuck."""
    latency = models.FloatField(null=True)
    """Mean end-to-end latency in seconds (``ce_time`` to the commit that applied the event) of
    the events applied in the last status interval that applied any, for the flow page."""
    latency_at = models.DateTimeField(null=True)
    """When ``latency`` was measured (None: nothing with a ``ce_time`` applied yet)."""

    class Meta:
        db_table = "eventing_consumer_status"
        verbose_name_plural = "consumer statuses"

    def __str__(self) -> str:
        return self.member
