"""The middleware protocol, as a type checker sees it: a plug-in need not inherit anything."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api

pytestmark = pytest.mark.slow  # runs mypy (a few seconds; no I/O beyond reading sources)

PLUGINS = """
from collections.abc import Sequence

from eventing.consumer.middleware import ConsumerMiddleware, ConsumerMiddlewareProtocol
from eventing.consumer.processing import BatchResult, Outcome
from eventing.consumer.runner import ConsumerRunner
from eventing.events import Event


class ThirdParty:  # every hook, no base class
    def before_batch(self, runner: ConsumerRunner, events: Sequence[Event], *, retry: bool) -> None: ...
    def after_batch(
        self,
        runner: ConsumerRunner,
        events: Sequence[Event],
        result: BatchResult,
        seconds: float,
        *,
        retry: bool,
    ) -> None: ...
    def on_outcome(self, runner: ConsumerRunner, event: Event, outcome: Outcome) -> None: ...
    def on_retry(self, runner: ConsumerRunner, event: Event) -> None: ...
    def on_dead_letter(
        self, runner: ConsumerRunner, topic: str, event_type: str | None, reason: str
    ) -> None: ...
    def on_report(self, runner: ConsumerRunner) -> None: ...


class Partial(ConsumerMiddleware):  # some hooks, the no-op base class for the others
    def on_report(self, runner: ConsumerRunner) -> None: ...


class WrongSignature:  # a hook the runner would call with arguments it does not take
    def before_batch(self, runner: ConsumerRunner) -> None: ...


def install(middleware: Sequence[ConsumerMiddlewareProtocol]) -> None: ...


install([ThirdParty(), Partial()])
install([WrongSignature()])
"""


def test_a_middleware_type_checks_without_inheriting(tmp_path: Path) -> None:
    source = tmp_path / "plugins.py"
    source.write_text(textwrap.dedent(PLUGINS))
    stdout, stderr, status = api.run(["--strict", "--follow-imports=silent", "--config-file=", str(source)])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 1 and len(errors) == 1, stdout + stderr
    assert '"WrongSignature"; expected "ConsumerMiddlewareProtocol"' in errors[0]
