from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from points.models import CustomerReadModel, OrderReadModel
from points.selectors import award_get
from points.services import (
    CustomerStateRow,
    OrderStateRow,
    customer_delete_apply,
    customer_state_apply,
    customer_states_apply_many,
    order_delete_apply,
    order_state_apply,
    order_states_apply_many,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def customer_row(customer_id: uuid.UUID) -> tuple[int, bool]:
    row = CustomerReadModel.objects.get(pk=customer_id)
    return row.version, row.deleted


def order_row(order_id: uuid.UUID) -> tuple[uuid.UUID, int, int, bool]:
    row = OrderReadModel.objects.get(pk=order_id)
    return row.customer_id, row.item_count, row.version, row.deleted


# --- customers ----------------------------------------------------------------------


def test_a_new_customer_is_recorded() -> None:
    customer_id = uuid.uuid4()

    assert customer_state_apply(customer_id=customer_id, version=1) is True

    assert customer_row(customer_id) == (1, False)


def test_a_redelivered_customer_state_changes_nothing() -> None:
    customer_id = uuid.uuid4()
    customer_state_apply(customer_id=customer_id, version=1)

    assert customer_state_apply(customer_id=customer_id, version=1) is False

    assert customer_row(customer_id) == (1, False)


def test_an_older_customer_state_does_not_overwrite_a_newer_one() -> None:
    customer_id = uuid.uuid4()
    customer_state_apply(customer_id=customer_id, version=5)

    assert customer_state_apply(customer_id=customer_id, version=4) is False

    assert customer_row(customer_id) == (5, False)


def test_a_newer_customer_state_is_applied() -> None:
    customer_id = uuid.uuid4()
    customer_state_apply(customer_id=customer_id, version=1)

    assert customer_state_apply(customer_id=customer_id, version=3) is True

    assert customer_row(customer_id) == (3, False)


def test_a_deleted_customer_keeps_a_tombstone_that_older_states_cannot_revive() -> None:
    # Given a customer deleted at version 3
    customer_id = uuid.uuid4()
    customer_state_apply(customer_id=customer_id, version=2)
    assert customer_delete_apply(customer_id=customer_id, version=3) is True

    # When a late state of version 2 arrives
    applied = customer_state_apply(customer_id=customer_id, version=2)

    # Then it stays deleted
    assert applied is False
    assert customer_row(customer_id) == (3, True)
    assert award_get(customer_id=customer_id) is None


def test_a_deletion_arriving_before_any_state_blocks_the_older_states() -> None:
    customer_id = uuid.uuid4()

    assert customer_delete_apply(customer_id=customer_id, version=2) is True
    assert customer_state_apply(customer_id=customer_id, version=1) is False

    assert customer_row(customer_id) == (2, True)


def test_a_stale_deletion_is_ignored() -> None:
    customer_id = uuid.uuid4()
    customer_state_apply(customer_id=customer_id, version=4)

    assert customer_delete_apply(customer_id=customer_id, version=3) is False

    assert customer_row(customer_id) == (4, False)


# --- orders -------------------------------------------------------------------------


def test_an_order_is_recorded_before_its_customer_is_known() -> None:
    order_id, customer_id = uuid.uuid4(), uuid.uuid4()

    assert order_state_apply(order_id=order_id, customer_id=customer_id, item_count=84, version=10)

    assert order_row(order_id) == (customer_id, 84, 10, False)
    assert award_get(customer_id=customer_id) is None
    # ... and counts once the customer arrives
    customer_state_apply(customer_id=customer_id, version=1)
    assert award_get(customer_id=customer_id) == 2.0


def test_a_newer_order_state_replaces_count_and_customer() -> None:
    order_id, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    order_state_apply(order_id=order_id, customer_id=first, item_count=1, version=10)

    assert order_state_apply(order_id=order_id, customer_id=second, item_count=7, version=20)

    assert order_row(order_id) == (second, 7, 20, False)


def test_out_of_order_order_states_converge_to_the_newest() -> None:
    order_id, customer_id = uuid.uuid4(), uuid.uuid4()

    # Given versions 30, 10, 20 arrive in that order
    results = [
        order_state_apply(order_id=order_id, customer_id=customer_id, item_count=v, version=v)
        for v in (30, 10, 20)
    ]

    # Then only the first applied, and version 30 holds
    assert results == [True, False, False]
    assert order_row(order_id) == (customer_id, 30, 30, False)


def test_an_order_deletion_keeps_a_tombstone() -> None:
    order_id, customer_id = uuid.uuid4(), uuid.uuid4()
    order_state_apply(order_id=order_id, customer_id=customer_id, item_count=5, version=1)

    assert order_delete_apply(order_id=order_id, customer_id=customer_id, item_count=5, version=2)
    assert not order_state_apply(order_id=order_id, customer_id=customer_id, item_count=5, version=1)

    assert order_row(order_id) == (customer_id, 5, 2, True)


def test_a_redelivered_order_deletion_changes_nothing() -> None:
    order_id, customer_id = uuid.uuid4(), uuid.uuid4()
    order_delete_apply(order_id=order_id, customer_id=customer_id, item_count=5, version=2)

    assert not order_delete_apply(order_id=order_id, customer_id=customer_id, item_count=5, version=2)


def test_versions_beyond_32_bits_are_compared_correctly() -> None:
    # Order versions are WAL positions (LSNs), which soon exceed 2**32.
    order_id, customer_id = uuid.uuid4(), uuid.uuid4()
    big = 2**40
    order_state_apply(order_id=order_id, customer_id=customer_id, item_count=1, version=big)

    assert not order_state_apply(order_id=order_id, customer_id=customer_id, item_count=2, version=big - 1)
    assert order_state_apply(order_id=order_id, customer_id=customer_id, item_count=3, version=big + 1)
    assert order_row(order_id) == (customer_id, 3, big + 1, False)


# --- batches ------------------------------------------------------------------------


def test_a_batch_of_orders_is_one_statement() -> None:
    customer_id = uuid.uuid4()
    rows = [OrderStateRow(uuid.uuid4(), customer_id, 1, 1) for _ in range(500)]

    with CaptureQueriesContext(connection) as queries:
        changed = order_states_apply_many(rows)

    assert changed == 500
    assert len(queries) == 1
    assert OrderReadModel.objects.filter(customer_id=customer_id).count() == 500


def test_a_batch_keeps_the_newest_version_of_a_repeated_key() -> None:
    order_id, customer_id = uuid.uuid4(), uuid.uuid4()
    rows = [
        OrderStateRow(order_id, customer_id, item_count=2, version=2),
        OrderStateRow(order_id, customer_id, item_count=3, version=3),
        OrderStateRow(order_id, customer_id, item_count=1, version=1),
        OrderStateRow(order_id, customer_id, item_count=3, version=3),  # redelivery
    ]

    changed = order_states_apply_many(rows)

    assert changed == 1
    assert order_row(order_id) == (customer_id, 3, 3, False)


def test_a_batch_may_mix_states_and_deletions() -> None:
    kept, deleted, customer_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    customer_state_apply(customer_id=customer_id, version=1)

    order_states_apply_many(
        [
            OrderStateRow(kept, customer_id, item_count=42, version=1),
            OrderStateRow(deleted, customer_id, item_count=420, version=1),
            OrderStateRow(deleted, customer_id, item_count=420, version=2, deleted=True),
        ]
    )

    assert order_row(deleted) == (customer_id, 420, 2, True)
    assert award_get(customer_id=customer_id) == 1.0


def test_a_batch_does_not_overwrite_newer_stored_rows() -> None:
    newer, older, customer_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    order_state_apply(order_id=newer, customer_id=customer_id, item_count=9, version=9)
    order_state_apply(order_id=older, customer_id=customer_id, item_count=1, version=1)

    changed = order_states_apply_many(
        [
            OrderStateRow(newer, customer_id, item_count=5, version=5),
            OrderStateRow(older, customer_id, item_count=5, version=5),
        ]
    )

    assert changed == 1
    assert order_row(newer) == (customer_id, 9, 9, False)
    assert order_row(older) == (customer_id, 5, 5, False)


def test_an_empty_batch_does_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert order_states_apply_many([]) == 0
        assert customer_states_apply_many([]) == 0

    assert len(queries) == 0


def test_a_batch_of_customers_is_version_guarded() -> None:
    known, fresh, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    customer_state_apply(customer_id=known, version=5)
    customer_delete_apply(customer_id=gone, version=3)

    changed = customer_states_apply_many(
        [
            CustomerStateRow(known, 4),
            CustomerStateRow(fresh, 1),
            CustomerStateRow(fresh, 2),
            CustomerStateRow(gone, 2),
        ]
    )

    assert changed == 1
    assert customer_row(known) == (5, False)
    assert customer_row(fresh) == (2, False)
    assert customer_row(gone) == (3, True)
