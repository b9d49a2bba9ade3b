"""Models of the eventing app (defined in the outbox and inbox packages)."""

from __future__ import annotations

from eventing.connect.models import ConnectorSupervision
from eventing.inbox.models import ConsumerStatus, InboxEntry, InboxStatus
from eventing.outbox.models import Heartbeat, OutboxEvent

__all__ = ["ConnectorSupervision", "ConsumerStatus", "Heartbeat", "InboxEntry", "InboxStatus", "OutboxEvent"]
