from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from points.models import CustomerReadModel
from points.services import customer_state_apply

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_the_read_model_is_visible_but_not_editable_in_the_admin(client: Any) -> None:
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    client.force_login(admin)
    customer_id = uuid.uuid4()
    customer_state_apply(customer_id=customer_id, version=1)

    listing = client.get("/admin/points/customerreadmodel/")
    add = client.get("/admin/points/customerreadmodel/add/")
    delete = client.post(f"/admin/points/customerreadmodel/{customer_id}/delete/", {"post": "yes"})

    assert listing.status_code == 200
    assert str(customer_id) in listing.content.decode()
    assert add.status_code == 403
    assert delete.status_code == 403
    assert CustomerReadModel.objects.filter(pk=customer_id).exists()
