"""Handlers building the points read model (consumer group ``points.read-model``).

Batch handlers: consecutive events of one type from a poll are applied with one statement
each, version-guarded, so a redelivered or older state never overwrites a newer one. An
order whose customer is not known yet is simply stored: the award counts it as soon as the
customer arrives, with no retry loop and no blocking.
"""

from __future__ import annotations

from collections.abc import Sequence

from event_contracts import CustomerEntityState, OrderState
from eventing import Event, handler
from points.events import (
    CUSTOMER_ENTITY_DELETED,
    CUSTOMER_ENTITY_STATE,
    ORDER_CREATED,
    ORDER_DELETED,
)
from points.services import (
    CustomerStateRow,
    OrderStateRow,
    customer_states_apply_many,
    order_states_apply_many,
)


def _customers(events: Sequence[Event[CustomerEntityState]], *, deleted: bool) -> list[CustomerStateRow]:
    return [CustomerStateRow(e.data.id, e.data.version, deleted) for e in events]


def _orders(events: Sequence[Event[OrderState]], *, deleted: bool) -> list[OrderStateRow]:
    return [
        OrderStateRow(e.data.id, e.data.customer_id, e.data.item_count, e.data.version, deleted)
        for e in events
    ]


@handler(CUSTOMER_ENTITY_STATE, batch=True)
def on_customer_entity_state(events: Sequence[Event[CustomerEntityState]]) -> None:
    customer_states_apply_many(_customers(events, deleted=False))


@handler(CUSTOMER_ENTITY_DELETED, batch=True)
def on_customer_entity_deleted(events: Sequence[Event[CustomerEntityState]]) -> None:
    customer_states_apply_many(_customers(events, deleted=True))


@handler(ORDER_CREATED, batch=True)
def on_order_created(events: Sequence[Event[OrderState]]) -> None:
    order_states_apply_many(_orders(events, deleted=False))


@handler(ORDER_DELETED, batch=True)
def on_order_deleted(events: Sequence[Event[OrderState]]) -> None:
    order_states_apply_many(_orders(events, deleted=True))
