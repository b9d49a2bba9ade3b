"""Serializer fields whose validation is exactly what their OpenAPI schema says.

DRF's own fields are lenient in ways a schema cannot describe: a ``CharField`` takes the number
``42`` as ``"42"`` and strips whitespace before checking the length, an ``IntegerField`` takes
``"7"``, ``7.0`` and ``True``, a ``UUIDField`` takes ``12345678123456781234567812345678`` and the
number ``42``. A client that trusts the schema then meets refusals it could not predict, and
inputs the schema calls invalid are accepted. These fields accept what the schema accepts and
nothing else (``chassis.schema`` describes them; schemathesis checks both directions).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from rest_framework import serializers

# Characters a single-line text never contains: the C0 and C1 control characters (NUL included).
_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"
# What Python's str.strip() removes besides control characters (str.isspace() minus _CONTROL).
_SPACE = " \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# No control character, and at least one character that is not white space. Written so that
# ECMA-262 (the schema's regex dialect) and Python's ``re`` read it alike.
TEXT_BODY = f"[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*"
TEXT_PATTERN = f"^{TEXT_BODY}$"
_TEXT = re.compile(TEXT_BODY)

# The canonical 8-4-4-4-12 form, the one the schema's ``format: uuid`` means.
UUID_BODY = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(UUID_BODY)

# RFC 3339 date-time (``format: date-time``): a full date, ``T``, a full time with seconds and a
# UTC offset. Python's ISO parser also takes week dates, a space separator, missing seconds...
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_uuid(raw: str) -> uuid.UUID | None:
    """``raw`` as a UUID if it is one in the canonical form, else ``None`` (for path parameters)."""
    if not _UUID.fullmatch(raw):
        return None
    return uuid.UUID(raw)


class TextField(serializers.CharField):  # type: ignore[misc]
    """Single-line text: a string of ``min_length`` (default 1) to ``max_length`` characters,
    no control characters, not only white space. Surrounding white space is then removed.

    The checks apply to the value as sent, so its schema (``pattern``, ``minLength``,
    ``maxLength``) decides exactly what is accepted.
    """

    default_error_messages = {  # noqa: RUF012 (DRF merges these per class)
        "invalid": "Not a valid string.",
        "text": "Must contain a visible character and no control characters.",
        "unicode": "Not valid Unicode.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_length", 1)
        kwargs["trim_whitespace"] = False
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): PostgreSQL cannot store it
            self.fail("unicode")
        if not _TEXT.fullmatch(data):
            self.fail("text")
        return str(data)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        value = super().run_validation(data)
        return value.strip() if isinstance(value, str) else value


class StrictIntegerField(serializers.IntegerField):  # type: ignore[misc]
    """An integer that is a JSON integer: not ``true``, ``"7"``, ``7.0`` or ``7.5``."""

    default_error_messages = {"invalid": "A valid integer is required."}  # noqa: RUF012

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        if not isinstance(data, int):
            self.fail("invalid")
        return int(data)


class StrictUUIDField(serializers.UUIDField):  # type: ignore[misc]
    """A UUID given as a string in its canonical form (DRF also takes hex digits alone, or 42)."""

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str) or not _UUID.fullmatch(data):
            self.fail("invalid", value=data)
        return uuid.UUID(data)


class StrictDateTimeField(serializers.DateTimeField):  # type: ignore[misc]
    """An RFC 3339 date-time with its UTC offset, as ``format: date-time`` says."""

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DDThh:mm:ss[.ffffff]Z or ±hh:mm")
        return super().to_internal_value(value)
