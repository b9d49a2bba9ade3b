from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orders.models import Order

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

URL = "/api/orders/"
CUSTOMER_ID = "31d71211-60b6-4e72-9b0c-e874583404c7"


def create(api: APIClient, **overrides: Any) -> dict[str, Any]:
    body = {"customer_id": CUSTOMER_ID, "item_count": 3} | overrides
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_returns_the_order_like_the_seed_demo(api: APIClient) -> None:
    # Given the exact request the seed's demo.sh sends
    before = timezone.now()
    response = api.post(
        URL,
        data='{"customer_id": "' + CUSTOMER_ID + '",  "item_count": 3340000}',
        content_type="application/json",
        HTTP_ACCEPT="application/json; indent=4",
    )

    # Then it gets the seed's response shape, indented, with a server-set date
    assert response.status_code == 201
    assert response.content.decode().startswith('{\n    "id": "')
    body = json.loads(response.content)
    assert set(body) == {"id", "customer_id", "date_placed", "item_count"}
    assert uuid.UUID(body["id"])
    assert body["customer_id"] == CUSTOMER_ID
    assert body["item_count"] == 3340000
    assert body["date_placed"].endswith("Z")
    placed = datetime.fromisoformat(body["date_placed"])
    assert before <= placed <= timezone.now()


def test_the_order_is_stored_in_the_captured_table(api: APIClient) -> None:
    body = create(api, item_count=7)

    order = Order.objects.get(pk=body["id"])
    assert (str(order.customer_id), order.item_count) == (CUSTOMER_ID, 7)
    assert Order._meta.db_table == "orders_order"


def test_date_placed_cannot_be_chosen_by_the_client(api: APIClient) -> None:
    body = create(api, date_placed="2000-01-01T00:00:00Z", id=str(uuid.uuid4()))

    assert not body["date_placed"].startswith("2000-")
    assert timezone.now() - datetime.fromisoformat(body["date_placed"]) < timedelta(minutes=1)


def test_retrieve_returns_the_order(api: APIClient) -> None:
    created = create(api)

    response = api.get(f"{URL}{created['id']}/")

    assert response.status_code == 200
    assert response.json() == created


def test_list_can_be_filtered_by_customer(api: APIClient) -> None:
    mine = create(api)
    create(api, customer_id=str(uuid.uuid4()))

    everything = api.get(URL).json()
    filtered = api.get(URL, {"customer_id": CUSTOMER_ID}).json()

    assert everything["count"] == 2
    assert filtered["count"] == 1
    assert filtered["results"] == [mine]


def test_list_with_a_malformed_customer_filter_is_400(api: APIClient) -> None:
    response = api.get(URL, {"customer_id": "nope"})

    assert response.status_code == 400
    assert "customer_id" in response.json()


@pytest.mark.parametrize("value", ["", CUSTOMER_ID.replace("-", "")])
def test_list_with_an_empty_or_non_canonical_customer_filter_is_400(api: APIClient, value: str) -> None:
    response = api.get(f"{URL}?customer_id={value}")

    assert response.status_code == 400
    assert "customer_id" in response.json()


def test_put_replaces_customer_and_item_count(api: APIClient) -> None:
    created = create(api)
    other_customer = str(uuid.uuid4())

    response = api.put(
        f"{URL}{created['id']}/",
        {"customer_id": other_customer, "item_count": 9},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == created | {"customer_id": other_customer, "item_count": 9}


def test_patch_changes_the_item_count_only(api: APIClient) -> None:
    created = create(api)

    response = api.patch(f"{URL}{created['id']}/", {"item_count": 5}, format="json")

    assert response.status_code == 200
    assert response.json() == created | {"item_count": 5}
    assert Order.objects.get(pk=created["id"]).item_count == 5


def test_delete_removes_the_order(api: APIClient) -> None:
    created = create(api)

    response = api.delete(f"{URL}{created['id']}/")

    assert response.status_code == 204
    assert api.get(f"{URL}{created['id']}/").status_code == 404


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_unknown_order_is_404(api: APIClient, method: str) -> None:
    body = {"customer_id": CUSTOMER_ID, "item_count": 1}

    response = getattr(api, method)(f"{URL}{uuid.uuid4()}/", body, format="json")

    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_malformed_id_is_404_not_500(api: APIClient, method: str) -> None:
    body = {"customer_id": CUSTOMER_ID, "item_count": 1}

    response = getattr(api, method)(f"{URL}12345/", body, format="json")

    assert response.status_code == 404


def test_requests_without_credentials_are_401(anonymous_api: APIClient) -> None:
    response = anonymous_api.post(URL, {"customer_id": CUSTOMER_ID, "item_count": 1}, format="json")

    assert response.status_code == 401
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"item_count": 1}, "customer_id"),
        ({"customer_id": CUSTOMER_ID}, "item_count"),
        ({"customer_id": "not-a-uuid", "item_count": 1}, "customer_id"),
        ({"customer_id": 42, "item_count": 1}, "customer_id"),
        ({"customer_id": None, "item_count": 1}, "customer_id"),
        ({"customer_id": CUSTOMER_ID, "item_count": 0}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": -3}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": 1.5}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": "many"}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": True}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": None}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": [3]}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": 2**31}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": 10**30}, "item_count"),
        # What the schema refuses too (integer, uuid): schemathesis checks both.
        ({"customer_id": CUSTOMER_ID, "item_count": "3"}, "item_count"),
        ({"customer_id": CUSTOMER_ID, "item_count": 3.0}, "item_count"),
        ({"customer_id": CUSTOMER_ID.replace("-", ""), "item_count": 1}, "customer_id"),
        ({"customer_id": "{" + CUSTOMER_ID + "}", "item_count": 1}, "customer_id"),
    ],
)
def test_invalid_input_is_400_with_field_errors(api: APIClient, body: dict[str, Any], field: str) -> None:
    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Order.objects.count() == 0


def test_the_largest_item_count_is_accepted(api: APIClient) -> None:
    assert create(api, item_count=2**31 - 1)["item_count"] == 2**31 - 1


def test_invalid_update_is_400_and_changes_nothing(api: APIClient) -> None:
    created = create(api)

    response = api.patch(f"{URL}{created['id']}/", {"item_count": -1}, format="json")

    assert response.status_code == 400
    assert "item_count" in response.json()
    assert api.get(f"{URL}{created['id']}/").json() == created


def test_malformed_json_is_400(api: APIClient) -> None:
    response = api.post(URL, data="{'customer_id': ", content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_the_trailing_slash_is_optional(api: APIClient) -> None:
    body = {"customer_id": CUSTOMER_ID, "item_count": 1}

    created = api.post(URL.rstrip("/"), body, format="json")

    assert created.status_code == 201
    assert api.get(f"{URL}{created.json()['id']}").status_code == 200
