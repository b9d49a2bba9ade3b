from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from points.selectors import award_get
from points.services import (
    customer_delete_apply,
    customer_state_apply,
    order_delete_apply,
    order_state_apply,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def known_customer() -> uuid.UUID:
    customer_id = uuid.uuid4()
    customer_state_apply(customer_id=customer_id, version=1)
    return customer_id


def place(customer_id: uuid.UUID, item_count: int, version: int = 1) -> uuid.UUID:
    order_id = uuid.uuid4()
    order_state_apply(
        order_id=order_id,
        customer_id=customer_id,
        item_count=item_count,
        version=version,
    )
    return order_id


def url(customer_id: object) -> str:
    return f"/api/award/{customer_id}/"


# --- the selector -------------------------------------------------------------------


def test_points_are_the_items_of_all_orders_divided_by_42() -> None:
    customer_id = known_customer()
    place(customer_id, 40)
    place(customer_id, 44)

    assert award_get(customer_id=customer_id) == 2.0


def test_the_seed_demo_order_gives_the_seed_demo_points() -> None:
    customer_id = known_customer()
    place(customer_id, 3340000)

    points = award_get(customer_id=customer_id)

    assert type(points) is float
    assert repr(points) == "79523.80952380953"


def test_a_known_customer_without_orders_has_zero_points() -> None:
    assert award_get(customer_id=known_customer()) == 0.0


def test_unknown_and_deleted_customers_have_no_award() -> None:
    deleted = known_customer()
    place(deleted, 42)
    customer_delete_apply(customer_id=deleted, version=2)

    assert award_get(customer_id=uuid.uuid4()) is None
    assert award_get(customer_id=deleted) is None


def test_deleted_orders_and_other_customers_orders_do_not_count() -> None:
    customer_id, someone_else = known_customer(), known_customer()
    place(customer_id, 42)
    cancelled = place(customer_id, 4200)
    order_delete_apply(order_id=cancelled, customer_id=customer_id, item_count=4200, version=2)
    place(someone_else, 42000)

    assert award_get(customer_id=customer_id) == 1.0


def test_an_order_moved_to_another_customer_counts_for_the_new_one() -> None:
    first, second = known_customer(), known_customer()
    order_id = place(first, 42)

    order_state_apply(order_id=order_id, customer_id=second, item_count=84, version=2)

    assert award_get(customer_id=first) == 0.0
    assert award_get(customer_id=second) == 2.0


# --- the API ------------------------------------------------------------------------


def test_award_api_returns_the_points_like_the_seed_demo(api: APIClient) -> None:
    customer_id = known_customer()
    place(customer_id, 3340000)

    response = api.get(url(customer_id), HTTP_ACCEPT="application/json; indent=4")

    assert response.status_code == 200
    assert response.content.decode() == '{\n    "points": 79523.80952380953\n}'


def test_award_api_is_404_for_an_unknown_customer(api: APIClient) -> None:
    response = api.get(url(uuid.uuid4()))

    assert response.status_code == 404
    assert "detail" in response.json()


def test_award_api_is_404_for_a_deleted_customer(api: APIClient) -> None:
    customer_id = known_customer()
    customer_delete_apply(customer_id=customer_id, version=2)

    assert api.get(url(customer_id)).status_code == 404


@pytest.mark.parametrize("raw", ["not-a-uuid", "42", "31d71211-60b6-4e72-9b0c-e87458340"])
def test_award_api_is_404_for_a_malformed_id(api: APIClient, raw: str) -> None:
    response = api.get(url(raw))

    assert response.status_code == 404
    assert "detail" in json.loads(response.content)


def test_award_api_needs_credentials(anonymous_api: APIClient) -> None:
    customer_id = known_customer()

    response = anonymous_api.get(url(customer_id))

    assert response.status_code == 401
    assert "points" not in response.json()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_award_api_is_read_only(api: APIClient, method: str) -> None:
    customer_id = known_customer()

    response = getattr(api, method)(url(customer_id), {"points": 1}, format="json")

    assert response.status_code == 405
    assert award_get(customer_id=customer_id) == 0.0


def test_the_trailing_slash_is_optional(api: APIClient) -> None:
    customer_id = known_customer()

    assert api.get(url(customer_id).rstrip("/")).json() == {"points": 0.0}
