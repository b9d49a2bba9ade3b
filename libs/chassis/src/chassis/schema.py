"""OpenAPI: what drf-spectacular cannot infer, the same in every service.

The chassis' authentication classes described like the DRF ones they extend, the pattern of
``chassis.fields.TextField``, and every operation's error responses (``document_error_responses``,
a postprocessing hook in ``SPECTACULAR_SETTINGS``), so a client (and schemathesis) knows each
status it can get and the body that comes with it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import BasicScheme
from drf_spectacular.extensions import OpenApiSerializerFieldExtension

from chassis.fields import TEXT_PATTERN


class CachedBasicScheme(BasicScheme):  # type: ignore[no-untyped-call]
    """``CachedBasicAuthentication`` is HTTP basic on the wire: the schema says ``basicAuth``."""

    target_class = "chassis.auth.CachedBasicAuthentication"


class TextFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """``chassis.fields.TextField``: DRF's string schema plus the pattern the field enforces."""

    target_class = "chassis.fields.TextField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(
            self.target, direction, bypass_extensions=True
        )
        schema["pattern"] = TEXT_PATTERN
        return schema


# --- error responses ---------------------------------------------------------------------

# What ``chassis.exceptions.exception_handler`` (DRF's) answers for every error but a 400 from
# validation: {"detail": "..."}.
ERROR = "Error"
# A 400: the request's fields, each with its messages; ``non_field_errors`` for the body as a
# whole (not an object, ...); or ``detail`` alone for a body that does not parse.
VALIDATION_ERROR = "ValidationError"
COMPONENTS: dict[str, dict[str, Any]] = {
    ERROR: {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    VALIDATION_ERROR: {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "minProperties": 1,
    },
}
# Query parameters of DRF's PageNumberPagination: a page past the end is a 404, not a 400.
PAGINATION_PARAMETERS = frozenset({"page"})
_HEADER = {"schema": {"type": "string"}, "required": True}


def _response(description: str, component: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def error_responses(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The error responses ``operation`` can give, from its shape, by status code.

    Every operation: 406 (an ``Accept`` header no renderer satisfies). With authentication
    required: 401 (no or wrong credentials, with the basic challenge), 403 (a session without
    its CSRF token) and 429 (too many failed logins, ``chassis.auth``). With path parameters or
    pages: 404. With a request body or query parameters to validate: 400; with a body, 415.
    """
    parameters = operation.get("parameters", [])
    query = {p["name"] for p in parameters if p.get("in") == "query"}
    responses = {"406": _response("No renderer satisfies the Accept header.", ERROR)}
    if any(requirement for requirement in operation.get("security", [])):
        responses["401"] = _response(
            "No credentials, or wrong ones.",
            ERROR,
            {"WWW-Authenticate": {**_HEADER, "description": "The basic authentication challenge."}},
        )
        responses["403"] = _response("Not allowed (a session request without its CSRF token).", ERROR)
        responses["429"] = _response(
            "Too many failed authentication attempts from this username or address.",
            ERROR,
            {"Retry-After": {**_HEADER, "description": "Seconds until the lockout ends."}},
        )
    if any(p.get("in") == "path" for p in parameters) or query & PAGINATION_PARAMETERS:
        responses["404"] = _response("No such resource, or no such page.", ERROR)
    if "requestBody" in operation or query - PAGINATION_PARAMETERS:
        responses["400"] = _response("Invalid input: the messages of each field.", VALIDATION_ERROR)
    if "requestBody" in operation:
        responses["415"] = _response("The request body's media type is not supported.", ERROR)
    return responses


def document_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation documents its error responses.

    A status an operation already documents keeps its description; it gets the error body if
    it had none (``OpenApiResponse(description=...)``).
    """
    used = False
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, response in error_responses(operation).items():
                documented = operation["responses"].setdefault(status, response)
                if "content" not in documented:
                    documented["content"] = response["content"]
                if "headers" in response:
                    documented.setdefault("headers", response["headers"])
                used = True
            operation["responses"] = dict(sorted(operation["responses"].items()))
    if used:
        result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    return result
