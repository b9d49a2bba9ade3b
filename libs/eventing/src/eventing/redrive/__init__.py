"""Dead-letter redrive: list a group's dead letters, send chosen ones back, keep a record.

A redriven copy carries three headers (besides the event's own): ``eventing.redrive.id``
(its :class:`~eventing.redrive.models.DeadLetterRedrive` row), ``eventing.redrive.group``
(the group it is meant for) and ``eventing.redrive.count`` (how many times this event has
been redriven, the loop guard's counter). The consumer of that group lets the copy claim
the inbox over the event's ``dead_lettered`` row while the redrive row is pending; every
other group sees an ordinary redelivery.
"""

from __future__ import annotations

REDRIVE_ID_HEADER = "eventing.redrive.id"
REDRIVE_GROUP_HEADER = "eventing.redrive.group"
REDRIVE_COUNT_HEADER = "eventing.redrive.count"
REDRIVE_FROM_HEADER = "eventing.redrive.from"
REDRIVE_HEADERS = (REDRIVE_ID_HEADER, REDRIVE_GROUP_HEADER, REDRIVE_COUNT_HEADER, REDRIVE_FROM_HEADER)
