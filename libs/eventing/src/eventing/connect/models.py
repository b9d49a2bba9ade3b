"""What the connector supervisor knows, one row per connector, for health checks and the doctor."""

from __future__ import annotations

from django.db import models


class ConnectorSupervision(models.Model):
    """The supervisor's view of one connector: restarts so far, and whether it gave up."""

    connector = models.TextField(primary_key=True)
    state = models.TextField()
    """``running``, ``restarting`` (after a restart, waiting to see it run), ``gave_up``."""
    restarts = models.IntegerField(default=0)
    """Restarts in the current episode (reset once it has run stably)."""
    total_restarts = models.IntegerField(default=0)
    last_restart_at = models.DateTimeField(null=True)
    last_error = models.TextField(blank=True, default="")
    pid = models.IntegerField()
    seen_at = models.DateTimeField()

    class Meta:
        db_table = "eventing_connector_supervision"

    def __str__(self) -> str:
        return f"{self.connector}: {self.state} ({self.restarts} restarts)"
