"""The points read model fed through its real handlers (testing kit: no Kafka needed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from eventing.testing import deliver, in_memory_registry, make_event
from points.events import (
    CUSTOMER_ENTITY_DELETED,
    CUSTOMER_ENTITY_STATE,
    ORDER_CREATED,
    ORDER_DELETED,
)
from points.selectors import award_get

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GROUP = "points.read-model"


@pytest.fixture(autouse=True)
def _schemas() -> Iterator[None]:
    with in_memory_registry():
        yield


def customer(customer_id: uuid.UUID, version: int = 1, event_type: Any = CUSTOMER_ENTITY_STATE) -> Any:
    data = {
        "id": customer_id,
        "first_name": "Bart",
        "last_name": "Simpson",
        "date_established": datetime(1980, 2, 23, tzinfo=UTC),
        "version": version,
    }
    return make_event(event_type, data)


def order(
    customer_id: uuid.UUID,
    item_count: int,
    *,
    order_id: uuid.UUID | None = None,
    version: int = 1,
    event_type: Any = ORDER_CREATED,
) -> Any:
    data = {
        "id": order_id or uuid.uuid4(),
        "customer_id": customer_id,
        "date_placed": datetime.now(UTC),
        "item_count": item_count,
        "version": version,
    }
    return make_event(event_type, data)


def test_award_is_total_items_over_42() -> None:
    customer_id = uuid.uuid4()
    deliver([customer(customer_id), order(customer_id, 3340000)], group=GROUP)
    assert award_get(customer_id=customer_id) == 79523.80952380953


def test_order_before_its_customer_is_counted_once_the_customer_arrives() -> None:
    # Given an order whose customer is not known yet
    customer_id = uuid.uuid4()
    deliver([order(customer_id, 84)], group=GROUP)
    assert award_get(customer_id=customer_id) is None
    # When the customer arrives
    deliver([customer(customer_id)], group=GROUP)
    # Then the order counts
    assert award_get(customer_id=customer_id) == 2.0


def test_redelivered_order_is_counted_once() -> None:
    customer_id = uuid.uuid4()
    placed = order(customer_id, 42)
    deliver([customer(customer_id), placed], group=GROUP)
    deliver([placed], group=GROUP)
    deliver([placed, placed], group=GROUP)
    assert award_get(customer_id=customer_id) == 1.0


def test_older_order_state_arriving_late_does_not_overwrite_newer() -> None:
    customer_id, order_id = uuid.uuid4(), uuid.uuid4()
    deliver([customer(customer_id), order(customer_id, 84, order_id=order_id, version=20)], group=GROUP)
    deliver([order(customer_id, 42, order_id=order_id, version=10)], group=GROUP)
    assert award_get(customer_id=customer_id) == 2.0


def test_order_update_and_delete_converge() -> None:
    customer_id, order_id = uuid.uuid4(), uuid.uuid4()
    deliver(
        [
            customer(customer_id),
            order(customer_id, 42, order_id=order_id, version=1),
            order(customer_id, 420, order_id=order_id, version=2),
            order(customer_id, 42, version=1),
        ],
        group=GROUP,
    )
    assert award_get(customer_id=customer_id) == 11.0
    deliver(
        [order(customer_id, 420, order_id=order_id, version=3, event_type=ORDER_DELETED)],
        group=GROUP,
    )
    assert award_get(customer_id=customer_id) == 1.0
    # A stale create of the deleted order cannot bring it back
    deliver([order(customer_id, 420, order_id=order_id, version=2)], group=GROUP)
    assert award_get(customer_id=customer_id) == 1.0


def test_deleted_customer_has_no_award() -> None:
    customer_id = uuid.uuid4()
    deliver([customer(customer_id), order(customer_id, 42)], group=GROUP)
    deliver([customer(customer_id, version=2, event_type=CUSTOMER_ENTITY_DELETED)], group=GROUP)
    assert award_get(customer_id=customer_id) is None
    # ...and an older state delivered late does not revive it
    deliver([customer(customer_id, version=1)], group=GROUP)
    assert award_get(customer_id=customer_id) is None
