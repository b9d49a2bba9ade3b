from __future__ import annotations

from django.urls import re_path

from points.apis import AwardApi

urlpatterns = [
    # The trailing slash is optional, as on the other services' APIs.
    re_path(r"^award/(?P<customer_id>[^/]+)/?$", AwardApi.as_view(), name="award"),
]
