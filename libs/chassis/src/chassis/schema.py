"""OpenAPI: the chassis' authentication classes described like the DRF ones they extend."""

from __future__ import annotations

from drf_spectacular.authentication import BasicScheme


class CachedBasicScheme(BasicScheme):  # type: ignore[no-untyped-call]
    """``CachedBasicAuthentication`` is HTTP basic on the wire: the schema says ``basicAuth``."""

    target_class = "chassis.auth.CachedBasicAuthentication"
