"""The record of what was redriven from a dead-letter topic, and what became of it."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Now


class RedriveOutcome(models.TextChoices):
    PENDING = "pending", "pending"
    """Sent back to the source topic; the consumer has not finished with the copy yet."""
    APPLIED = "applied", "applied"
    """The consumer applied the redriven copy (once: the inbox row turned ``applied``)."""
    FAILED = "failed", "failed"
    """The redriven copy failed again and is back in the dead-letter topic."""


class DeadLetterRedrive(models.Model):
    """One dead letter sent back to its source topic by ``eventing_dlt redrive`` (or the admin).

    Written (committed) *before* the copy is produced: the consumer lets a redriven copy
    claim the inbox over the event's ``dead_lettered`` row only while this row is
    ``pending``, so the copy is applied at most once, and a replay of the topic later treats
    it as the duplicate it then is.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    """Carried by the copy in its ``eventing.redrive.id`` header."""
    consumer_group = models.TextField(db_index=True)
    """The group whose dead letter this was (only this group applies the copy again)."""
    event_id = models.TextField()
    """CloudEvents id of the event (or ``poison:<topic>/<partition>/<offset>`` without one)."""
    event_type = models.TextField(blank=True)
    dead_letter_topic = models.TextField()
    dead_letter_partition = models.IntegerField()
    dead_letter_offset = models.BigIntegerField()
    """Where the dead letter is: one dead letter is redriven once unless forced."""
    source_topic = models.TextField()
    """Where the copy was produced (the ``dlt.original.topic``)."""
    reason = models.TextField(blank=True)
    """``dlt.reason`` of the dead letter (``handler_failed``, ``undecodable``...)."""
    exception = models.TextField(blank=True)
    """``dlt.exception.type: message`` of the dead letter."""
    redrive_count = models.IntegerField()
    """How many times this event has now been redriven (the copy's ``eventing.redrive.count``)."""
    forced = models.BooleanField(default=False)
    """Redriven past the loop guard (``--force``)."""
    redriven_by = models.TextField(blank=True)
    redriven_at = models.DateTimeField(db_default=Now())
    outcome = models.TextField(choices=RedriveOutcome.choices, default=RedriveOutcome.PENDING)
    finished_at = models.DateTimeField(null=True, blank=True)
    """When the consumer applied the copy or dead-lettered it again."""

    class Meta:
        db_table = "eventing_redrive"
        verbose_name = "dead-letter redrive"
        indexes = [
            models.Index(
                fields=["dead_letter_topic", "dead_letter_partition", "dead_letter_offset"],
                name="eventing_redrive_position",
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer_group}: {self.event_id} #{self.redrive_count} ({self.outcome})"
