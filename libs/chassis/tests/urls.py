from __future__ import annotations

from chassis.urls import service_urlpatterns

urlpatterns = service_urlpatterns("tests.api_urls")
