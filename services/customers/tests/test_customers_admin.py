from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from customers.models import Customer
from tests.fakes import PublishedEvent

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_admin_edits_go_through_the_services(client: Any, published: list[PublishedEvent]) -> None:
    # Given a staff user logged into the admin
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    client.force_login(admin)

    # When they add a customer and then rename it
    client.post(
        "/admin/customers/customer/add/",
        {
            "first_name": "Bart",
            "last_name": "Simpson",
            "date_established_0": "1980-02-23",
            "date_established_1": "00:00",
        },
    )
    customer = Customer.objects.get()
    client.post(
        f"/admin/customers/customer/{customer.pk}/change/",
        {
            "first_name": "Lisa",
            "last_name": "Simpson",
            "date_established_0": "1980-02-23",
            "date_established_1": "00:00",
        },
    )

    # Then the version moved and each change was published
    assert Customer.objects.get().version == 2
    assert [(e.event_type, e.data["first_name"], e.data["version"]) for e in published] == [
        ("customer_entity_state", "Bart", 1),
        ("customer_entity_state", "Lisa", 2),
    ]


def test_admin_delete_goes_through_the_services(client: Any, published: list[PublishedEvent]) -> None:
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    client.force_login(admin)
    customer = Customer.objects.create(
        first_name="Bart", last_name="Simpson", date_established="1980-02-23T00:00Z"
    )

    client.post(f"/admin/customers/customer/{customer.pk}/delete/", {"post": "yes"})

    assert not Customer.objects.exists()
    assert [(e.event_type, e.data["version"]) for e in published] == [("customer_entity_deleted", 2)]
