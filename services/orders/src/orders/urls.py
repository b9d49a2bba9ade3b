from __future__ import annotations

from chassis.urls import OptionalSlashRouter
from orders.apis import OrderViewSet

router = OptionalSlashRouter()
router.register("orders", OrderViewSet, basename="order")

urlpatterns = router.urls
