from __future__ import annotations

from rest_framework.routers import SimpleRouter

from customers.apis import CustomerViewSet


class OptionalSlashRouter(SimpleRouter):
    """Routes that match with or without the trailing slash.

    The seed's clients use the slash; a POST without it would otherwise hit
    APPEND_SLASH, which cannot redirect a POST (an error page in DEBUG).
    """

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = router.urls
