"""points_rebuild's refusals that need no database."""

from __future__ import annotations

import pytest

from points.rebuild import RebuildRefused, check_history

pytestmark = pytest.mark.unit


def test_a_topic_whose_beginning_retention_deleted_is_refused() -> None:
    check_history({("t", 0): (0, 10), ("t", 1): (0, 0)})
    with pytest.raises(RebuildRefused, match=r"t\[1\] starts at 3"):
        check_history({("t", 0): (0, 10), ("t", 1): (3, 12)})
