"""``ce_time`` text: RFC 3339 in UTC with microseconds, whatever the zone or year of the input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from eventing.exceptions import ConfigurationError
from eventing.outbox.publish import format_time

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 12, 3, 17, 30, 1, 123456, tzinfo=UTC), "2026-12-03T17:30:01.123456Z"),
        # Whole seconds still carry the fraction: every ce_time has the same shape.
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05.000000Z"),
        # Another zone is converted to UTC, across a date boundary.
        (
            datetime(2026, 1, 1, 1, 0, 0, 7, tzinfo=timezone(timedelta(hours=2))),
            "2025-12-31T23:00:00.000007Z",
        ),
        # A four-digit year even before 1000 (strftime's %Y gives "1" on glibc).
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000000Z"),
    ],
)
def test_times_are_rfc3339_utc_with_microseconds(moment: datetime, text: str) -> None:
    assert format_time(moment) == text
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == moment


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        format_time(datetime(2026, 12, 3, 17, 30))
