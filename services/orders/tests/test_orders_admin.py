from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from orders.models import Order

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def admin_client_(client: Any) -> Any:
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    client.force_login(admin)
    return client


def test_admin_can_add_change_and_delete_an_order(admin_client_: Any) -> None:
    customer_id = uuid.uuid4()

    admin_client_.post("/admin/orders/order/add/", {"customer_id": str(customer_id), "item_count": 3})
    order = Order.objects.get()
    admin_client_.post(
        f"/admin/orders/order/{order.pk}/change/",
        {"customer_id": str(customer_id), "item_count": 4},
    )
    assert Order.objects.get().item_count == 4

    admin_client_.post(f"/admin/orders/order/{order.pk}/delete/", {"post": "yes"})
    assert not Order.objects.exists()


def test_admin_refuses_an_empty_order(admin_client_: Any) -> None:
    response = admin_client_.post(
        "/admin/orders/order/add/", {"customer_id": str(uuid.uuid4()), "item_count": 0}
    )

    assert response.status_code == 200  # the form is shown again with its errors
    assert not Order.objects.exists()
