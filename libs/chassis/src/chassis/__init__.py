"""Microservice chassis: the cross-cutting scaffolding every Django service here shares.

One library for the concerns that are the same in each service (settings from the
environment, production refusals, logging, gunicorn, the shared routes, the DRF exception
handler, the development superuser, and the operational test contract), so a service keeps
only what is its own: its app, its API, its part in the event flow and its health checks.

Eventing itself (outbox, consumers, contracts) stays in the ``eventing`` library.
"""

from __future__ import annotations
