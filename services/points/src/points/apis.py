from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chassis.fields import parse_uuid
from points.selectors import award_get
from points.serializers import AwardSerializer


class AwardApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("customer_id", type=uuid.UUID, location=OpenApiParameter.PATH)],
        responses={
            200: AwardSerializer,
            404: OpenApiResponse(description="Unknown or deleted customer."),
        },
    )
    def get(self, request: Request, customer_id: str) -> Response:
        """Points awarded to a customer: the items of their orders / 42."""
        parsed = parse_uuid(customer_id)
        points = award_get(customer_id=parsed) if parsed else None
        if points is None:
            raise NotFound(f"No customer with id {customer_id!r}.")
        return Response(AwardSerializer({"points": points}).data)
