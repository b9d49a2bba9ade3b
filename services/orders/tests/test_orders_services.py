from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.utils import timezone

from orders.models import Order
from orders.services import order_create, order_delete, order_update

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_create_stores_the_order_with_a_server_timestamp() -> None:
    customer_id = uuid.uuid4()
    before = timezone.now()

    order = order_create(customer_id=customer_id, item_count=2)

    stored = Order.objects.get(pk=order.pk)
    assert (stored.customer_id, stored.item_count) == (customer_id, 2)
    assert before <= stored.date_placed <= timezone.now()


@pytest.mark.parametrize("item_count", [0, -1, 2**31])
def test_create_rejects_out_of_range_counts(item_count: int) -> None:
    with pytest.raises(ValidationError) as error:
        order_create(customer_id=uuid.uuid4(), item_count=item_count)

    assert "item_count" in error.value.message_dict
    assert not Order.objects.exists()


def test_update_changes_the_given_fields() -> None:
    order = order_create(customer_id=uuid.uuid4(), item_count=2)
    new_customer = uuid.uuid4()

    updated = order_update(order=order, customer_id=new_customer, item_count=4)

    stored = Order.objects.get(pk=order.pk)
    assert (stored.customer_id, stored.item_count) == (new_customer, 4)
    assert updated.date_placed == order.date_placed


def test_update_refuses_to_change_the_date_placed() -> None:
    order = order_create(customer_id=uuid.uuid4(), item_count=2)

    with pytest.raises(TypeError, match="date_placed"):
        order_update(order=order, date_placed=timezone.now())


def test_delete_removes_the_row() -> None:
    order = order_create(customer_id=uuid.uuid4(), item_count=2)

    order_delete(order=order)

    assert not Order.objects.filter(pk=order.pk).exists()


def test_the_database_refuses_an_empty_order_written_around_the_services() -> None:
    with pytest.raises(IntegrityError):
        Order.objects.create(customer_id=uuid.uuid4(), item_count=0)


def test_deletes_carry_the_whole_row_in_the_wal() -> None:
    # Debezium needs REPLICA IDENTITY FULL to publish a deleted order's last state.
    with connection.cursor() as cursor:
        cursor.execute("SELECT relreplident FROM pg_class WHERE oid = 'orders_order'::regclass")
        (identity,) = cursor.fetchone()

    assert identity == "f"
