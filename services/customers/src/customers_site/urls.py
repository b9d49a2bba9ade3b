"""The customers API under ``api/``, plus the chassis' schema, docs, admin and health routes."""

from __future__ import annotations

from chassis.urls import service_urlpatterns

urlpatterns = service_urlpatterns("customers.urls")
