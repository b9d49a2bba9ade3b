"""The helpers every stack-backed test leans on: polling with a deadline, unique names."""

from __future__ import annotations

import re
import time

import pytest

from stack.testing import eventually, unique_name

pytestmark = pytest.mark.unit


def test_eventually_returns_the_first_passing_result() -> None:
    attempts: list[int] = []

    def check() -> str:
        attempts.append(1)
        assert len(attempts) >= 3, f"only {len(attempts)} attempts"
        return "done"

    assert eventually(check, timeout=30, interval=0) == "done"
    assert len(attempts) == 3


def test_eventually_reraises_the_last_assertion_after_the_deadline() -> None:
    attempts: list[int] = []

    def check() -> None:
        attempts.append(1)
        raise AssertionError(f"still wrong after {len(attempts)} attempts")

    began = time.monotonic()
    with pytest.raises(AssertionError) as raised:
        eventually(check, timeout=0.3, interval=0.05)

    assert 0.3 <= time.monotonic() - began < 5
    assert str(raised.value) == f"still wrong after {len(attempts)} attempts"


def test_eventually_does_not_swallow_errors_that_are_not_assertions() -> None:
    attempts: list[int] = []

    def check() -> None:
        attempts.append(1)
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        eventually(check, timeout=30)
    assert len(attempts) == 1


def test_unique_names_are_valid_identifiers_and_differ() -> None:
    names = {unique_name("stack_test") for _ in range(100)}

    assert len(names) == 100
    assert all(re.fullmatch(r"stack_test_[0-9a-f]{10}", name) for name in names)
