from __future__ import annotations

import uuid

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from chassis.fields import parse_uuid
from customers.models import Customer
from customers.selectors import customer_get, customer_list
from customers.serializers import CustomerInputSerializer, CustomerOutputSerializer
from customers.services import customer_create, customer_delete, customer_update

_ID = OpenApiParameter("customer_id", type=uuid.UUID, location=OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(responses=CustomerOutputSerializer(many=True)),
    create=extend_schema(request=CustomerInputSerializer, responses={201: CustomerOutputSerializer}),
    retrieve=extend_schema(parameters=[_ID], responses=CustomerOutputSerializer),
    update=extend_schema(
        parameters=[_ID],
        request=CustomerInputSerializer,
        responses=CustomerOutputSerializer,
    ),
    partial_update=extend_schema(
        parameters=[_ID],
        request=CustomerInputSerializer(partial=True),
        responses=CustomerOutputSerializer,
    ),
    destroy=extend_schema(parameters=[_ID], responses={204: None}),
)
class CustomerViewSet(viewsets.GenericViewSet):
    serializer_class = CustomerOutputSerializer
    lookup_url_kwarg = "customer_id"
    # Any path segment reaches the view, so a malformed id is this API's JSON 404 (DRF's
    # default, [^/.]+, leaves "0.5" to Django's HTML 404).
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Customer]:
        return customer_list()

    def _get(self, raw_id: str) -> Customer:
        customer_id = parse_uuid(raw_id)
        customer = customer_get(customer_id=customer_id) if customer_id else None
        if customer is None:
            raise NotFound(f"No customer with id {raw_id!r}.")
        return customer

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CustomerOutputSerializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        serializer = CustomerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = customer_create(**serializer.validated_data)
        return Response(CustomerOutputSerializer(customer).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, customer_id: str) -> Response:
        return Response(CustomerOutputSerializer(self._get(customer_id)).data)

    def update(self, request: Request, customer_id: str, *, partial: bool = False) -> Response:
        customer = self._get(customer_id)
        serializer = CustomerInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            customer = customer_update(customer=customer, **serializer.validated_data)
        except Customer.DoesNotExist:
            raise NotFound(f"No customer with id {customer_id!r}.") from None
        return Response(CustomerOutputSerializer(customer).data)

    def partial_update(self, request: Request, customer_id: str) -> Response:
        return self.update(request, customer_id, partial=True)

    def destroy(self, request: Request, customer_id: str) -> Response:
        customer = self._get(customer_id)
        try:
            customer_delete(customer=customer)
        except Customer.DoesNotExist:
            raise NotFound(f"No customer with id {customer_id!r}.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)
