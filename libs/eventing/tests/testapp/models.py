"""A small domain for the library's tests: accounts (written by a service) and a projection."""

from __future__ import annotations

import uuid

from django.db import models


class Account(models.Model):
    """The producer side: a domain row whose changes are published through the outbox."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    owner = models.TextField()
    balance = models.BigIntegerField(default=0)
    opened_at = models.DateTimeField()
    version = models.BigIntegerField(default=1)


class AccountProjection(models.Model):
    """The consumer side: a read model fed by account events."""

    account_id = models.UUIDField(primary_key=True)
    owner = models.TextField()
    balance = models.BigIntegerField()
    version = models.BigIntegerField()
    applications = models.IntegerField(default=1)
    """How many times a handler wrote this row (exactly-once effect: one per event)."""


class AppliedEvent(models.Model):
    """One row per handler application of an event: the oracle of exactly-once effect.

    No unique constraint on purpose: a duplicate application shows as a second row, a lost
    event as a missing one.
    """

    event_id = models.TextField()
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    pid = models.IntegerField()
