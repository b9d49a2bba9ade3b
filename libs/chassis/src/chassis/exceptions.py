"""The REST framework exception handler every service uses (``EXCEPTION_HANDLER``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler; a Django ``ValidationError`` from a service becomes a 400.

    Domain services validate with Django's ``ValidationError`` (they know nothing of HTTP);
    without this, such an error raised below a view would be a 500 instead of field errors.
    """
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    return drf_exception_handler(exc, context)
