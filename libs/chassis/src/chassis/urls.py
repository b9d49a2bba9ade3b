"""The routes every service serves besides its own API."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from chassis.health import health
from eventing.flow import flow_data, flow_page
from eventing.metrics import metrics_view


class OptionalSlashRouter(SimpleRouter):  # type: ignore[misc]
    """A DRF router whose routes match with or without the trailing slash.

    The seed's clients use the slash; a POST without it would otherwise hit APPEND_SLASH,
    which cannot redirect a POST (an error page in DEBUG).
    """

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


def service_urlpatterns(api_urls: str) -> list[URLPattern | URLResolver]:
    """``urlpatterns`` of a service: its API under ``api/`` plus the shared operational routes.

    ``api_urls`` is the dotted path of the app's URLconf (e.g. ``"orders.urls"``). The shared
    routes are the OpenAPI schema (``api/schema/``), Swagger UI (``api/docs/``), DRF's login
    (``api-auth/``), the admin (``admin/``), ``metrics`` (Prometheus, ``eventing.metrics``, no
    authentication), ``health/`` (``chassis.health.health``, no authentication) and
    ``eventing/flow/`` (the live flow page, ``eventing.flow``, staff only), so every service
    exposes the same operational surface at the same paths.
    """
    return [
        path("api/", include(api_urls)),
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
        path("api-auth/", include("rest_framework.urls")),
        path("admin/", admin.site.urls),
        path("health/", health, name="health"),
        path("metrics", metrics_view, name="metrics"),
        path("eventing/flow/", flow_page, name="eventing-flow"),
        path("eventing/flow/data/", flow_data, name="eventing-flow-data"),
    ]
