from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from customers.models import Customer

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

URL = "/api/customers/"
BART = {
    "first_name": "Bart",
    "last_name": "Simpson",
    "date_established": "1980-02-23T00:00:00Z",
}


def create(api: APIClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post(URL, body or BART, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_returns_the_customer_with_its_id(api: APIClient) -> None:
    response = api.post(URL, BART, format="json")

    assert response.status_code == 201
    body = response.json()
    assert uuid.UUID(body["id"])
    assert body["first_name"] == "Bart"
    assert body["last_name"] == "Simpson"
    assert body["date_established"] == "1980-02-23T00:00:00Z"
    assert body["version"] == 1
    assert Customer.objects.filter(pk=body["id"]).exists()


def test_seed_demo_request_gets_indented_json(api: APIClient) -> None:
    # Given the exact request the seed's demo.sh sends
    response = api.post(
        URL,
        data=json.dumps(BART),
        content_type="application/json",
        HTTP_ACCEPT="application/json; indent=4",
    )

    # Then the body is indented JSON that `jq -r .id` can read
    assert response.status_code == 201
    text = response.content.decode()
    assert text.startswith('{\n    "id": "')
    assert uuid.UUID(json.loads(text)["id"])


def test_retrieve_returns_the_customer(api: APIClient) -> None:
    created = create(api)

    response = api.get(f"{URL}{created['id']}/")

    assert response.status_code == 200
    assert response.json() == created


def test_list_is_paginated_and_contains_created_customers(api: APIClient) -> None:
    first = create(api)
    second = create(api, {**BART, "first_name": "Lisa"})

    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [c["id"] for c in body["results"]] == [first["id"], second["id"]]


def test_put_replaces_fields_and_increments_version(api: APIClient) -> None:
    created = create(api)

    response = api.put(
        f"{URL}{created['id']}/",
        {
            "first_name": "Bartholomew",
            "last_name": "Simpson",
            "date_established": "1981-01-01T12:00:00+02:00",
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["first_name"] == "Bartholomew"
    assert body["date_established"] == "1981-01-01T10:00:00Z"
    assert body["version"] == 2


def test_patch_changes_one_field_and_increments_version(api: APIClient) -> None:
    created = create(api)

    response = api.patch(f"{URL}{created['id']}/", {"last_name": "Bouvier"}, format="json")

    assert response.status_code == 200
    assert response.json()["last_name"] == "Bouvier"
    assert response.json()["first_name"] == "Bart"
    assert response.json()["version"] == 2
    assert api.get(f"{URL}{created['id']}/").json()["version"] == 2


def test_patch_with_the_same_values_keeps_the_version(api: APIClient) -> None:
    created = create(api)

    response = api.patch(f"{URL}{created['id']}/", {"first_name": "Bart"}, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == 1


def test_delete_removes_the_customer(api: APIClient) -> None:
    created = create(api)

    response = api.delete(f"{URL}{created['id']}/")

    assert response.status_code == 204
    assert api.get(f"{URL}{created['id']}/").status_code == 404


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_unknown_customer_is_404(api: APIClient, method: str) -> None:
    response = getattr(api, method)(f"{URL}{uuid.uuid4()}/", BART, format="json")

    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_malformed_id_is_404_not_500(api: APIClient, method: str) -> None:
    response = getattr(api, method)(f"{URL}not-a-uuid/", BART, format="json")

    assert response.status_code == 404
    assert "detail" in response.json()


def test_requests_without_credentials_are_401(anonymous_api: APIClient) -> None:
    response = anonymous_api.post(URL, BART, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert Customer.objects.count() == 0


def test_wrong_password_is_401(anonymous_api: APIClient, user: Any) -> None:
    anonymous_api.credentials(HTTP_AUTHORIZATION="Basic YWxpY2U6d3Jvbmc=")  # alice:wrong

    assert anonymous_api.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"last_name": "Simpson", "date_established": "1980-02-23T00:00:00Z"},
            "first_name",
        ),
        (
            {"first_name": "Bart", "date_established": "1980-02-23T00:00:00Z"},
            "last_name",
        ),
        ({"first_name": "Bart", "last_name": "Simpson"}, "date_established"),
        ({**BART, "first_name": ""}, "first_name"),
        ({**BART, "first_name": "   "}, "first_name"),
        ({**BART, "last_name": "x" * 101}, "last_name"),
        ({**BART, "first_name": None}, "first_name"),
        ({**BART, "first_name": ["Bart"]}, "first_name"),
        ({**BART, "last_name": {"name": "Simpson"}}, "last_name"),
        ({**BART, "first_name": "Ba\u0000rt"}, "first_name"),
        ({**BART, "date_established": "1980-02-30T00:00:00Z"}, "date_established"),
        ({**BART, "date_established": "yesterday"}, "date_established"),
        ({**BART, "date_established": 319939200}, "date_established"),
        ({**BART, "date_established": "0001-01-01T00:00:00+01:00"}, "date_established"),
        # What the schema refuses too (its pattern, type and format): schemathesis checks both.
        ({**BART, "first_name": "Ba\nrt"}, "first_name"),
        ({**BART, "last_name": "Simpson\u0085"}, "last_name"),
        ({**BART, "first_name": "\u3000"}, "first_name"),
        ({**BART, "last_name": 42}, "last_name"),
        ({**BART, "date_established": "1980-02-23 00:00:00Z"}, "date_established"),
        ({**BART, "date_established": "1980-02-23T00:00Z"}, "date_established"),
        ({**BART, "date_established": "1980-W08-6T00:00:00Z"}, "date_established"),
    ],
)
def test_invalid_input_is_400_with_field_errors(api: APIClient, body: dict[str, Any], field: str) -> None:
    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Customer.objects.count() == 0


def test_invalid_update_is_400_and_changes_nothing(api: APIClient) -> None:
    created = create(api)

    response = api.patch(f"{URL}{created['id']}/", {"date_established": "not a date"}, format="json")

    assert response.status_code == 400
    assert "date_established" in response.json()
    assert api.get(f"{URL}{created['id']}/").json() == created


def test_put_requires_every_field(api: APIClient) -> None:
    created = create(api)

    response = api.put(f"{URL}{created['id']}/", {"first_name": "Lisa"}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"last_name", "date_established"}


def test_malformed_json_is_400(api: APIClient) -> None:
    response = api.post(URL, data='{"first_name": "Bart",', content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_json_array_body_is_400(api: APIClient) -> None:
    response = api.post(URL, data=json.dumps([BART]), content_type="application/json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_unsupported_content_type_is_415(api: APIClient) -> None:
    response = api.post(URL, data="first_name=Bart", content_type="text/plain")

    assert response.status_code == 415


def test_a_form_body_is_415(api: APIClient) -> None:
    response = api.post(URL, BART, format="multipart")

    assert response.status_code == 415
    assert Customer.objects.count() == 0


def test_names_are_stored_without_surrounding_white_space(api: APIClient) -> None:
    body = create(api, {**BART, "first_name": "  Bart ", "last_name": "Simpson\u3000"})

    assert (body["first_name"], body["last_name"]) == ("Bart", "Simpson")


def test_an_id_not_in_the_canonical_form_is_404(api: APIClient) -> None:
    created = create(api)

    response = api.get(f"{URL}{created['id'].replace('-', '')}/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("query", ["page=last", "page=", "page=1&page=1", "page=0"])
def test_a_page_that_is_not_one_positive_number_is_404(api: APIClient, query: str) -> None:
    create(api)

    response = api.get(f"{URL}?{query}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


def test_fields_set_by_the_server_are_ignored_on_input(api: APIClient) -> None:
    forced_id = str(uuid.uuid4())

    body = create(api, {**BART, "id": forced_id, "version": 99})

    assert body["id"] != forced_id
    assert body["version"] == 1


def test_the_trailing_slash_is_optional(api: APIClient) -> None:
    created = api.post(URL.rstrip("/"), BART, format="json")

    assert created.status_code == 201
    assert api.get(f"{URL}{created.json()['id']}").status_code == 200
