"""A stand-in for a service's API URLconf."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path


def things(request: HttpRequest) -> HttpResponse:
    return HttpResponse("things")


urlpatterns = [path("things/", things, name="things")]
