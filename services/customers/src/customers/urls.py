from __future__ import annotations

from chassis.urls import OptionalSlashRouter
from customers.apis import CustomerViewSet

router = OptionalSlashRouter()
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = router.urls
