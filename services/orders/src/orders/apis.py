from __future__ import annotations

import uuid

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from chassis.fields import parse_uuid
from orders.models import Order
from orders.selectors import order_get, order_list
from orders.serializers import (
    OrderFilterSerializer,
    OrderInputSerializer,
    OrderOutputSerializer,
)
from orders.services import order_create, order_delete, order_update

_ID = OpenApiParameter("order_id", type=uuid.UUID, location=OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(parameters=[OrderFilterSerializer], responses=OrderOutputSerializer(many=True)),
    create=extend_schema(request=OrderInputSerializer, responses={201: OrderOutputSerializer}),
    retrieve=extend_schema(parameters=[_ID], responses=OrderOutputSerializer),
    update=extend_schema(parameters=[_ID], request=OrderInputSerializer, responses=OrderOutputSerializer),
    partial_update=extend_schema(
        parameters=[_ID],
        request=OrderInputSerializer(partial=True),
        responses=OrderOutputSerializer,
    ),
    destroy=extend_schema(parameters=[_ID], responses={204: None}),
)
class OrderViewSet(viewsets.GenericViewSet):
    serializer_class = OrderOutputSerializer
    lookup_url_kwarg = "order_id"
    # Any path segment reaches the view, so a malformed id is this API's JSON 404 (DRF's
    # default, [^/.]+, leaves "0.5" to Django's HTML 404).
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Order]:
        return order_list()

    def _get(self, raw_id: str) -> Order:
        order_id = parse_uuid(raw_id)
        order = order_get(order_id=order_id) if order_id else None
        if order is None:
            raise NotFound(f"No order with id {raw_id!r}.")
        return order

    def list(self, request: Request) -> Response:
        # A plain dict: a QueryDict would let "?customer_id=" through as "no filter".
        filters = OrderFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(order_list(**filters.validated_data))
        return self.get_paginated_response(OrderOutputSerializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        serializer = OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = order_create(**serializer.validated_data)
        return Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, order_id: str) -> Response:
        return Response(OrderOutputSerializer(self._get(order_id)).data)

    def update(self, request: Request, order_id: str, *, partial: bool = False) -> Response:
        order = self._get(order_id)
        serializer = OrderInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            order = order_update(order=order, **serializer.validated_data)
        except Order.DoesNotExist:
            raise NotFound(f"No order with id {order_id!r}.") from None
        return Response(OrderOutputSerializer(order).data)

    def partial_update(self, request: Request, order_id: str) -> Response:
        return self.update(request, order_id, partial=True)

    def destroy(self, request: Request, order_id: str) -> Response:
        order = self._get(order_id)
        try:
            order_delete(order=order)
        except Order.DoesNotExist:
            raise NotFound(f"No order with id {order_id!r}.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)
