"""The Python API of the stack: what the CLI, the test fixtures and fault tests call.

``up``/``down``/``status`` take component names (``None`` means all). ``up`` also starts the
dependencies of what it is asked for; ``down`` stops exactly what it is asked for, dependents
first. Settings are read from the environment on every call, so a test can change a variable
and call again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from stack import topology
from stack.errors import StackError
from stack.executor import Component, ComponentStatus
from stack.settings import Settings

logger = logging.getLogger(__name__)


def components(settings: Settings | None = None) -> list[Component]:
    """Every component of the topology, in start order (checked: dependencies come first)."""
    built = topology.build(settings or Settings.from_env())
    seen: set[str] = set()
    for component in built:
        missing = [d for d in component.depends_on if d not in seen]
        if missing:
            raise StackError(f"topology: {component.name} is declared before its dependencies {missing}")
        seen.add(component.name)
    return built


def install(names: Iterable[str] | None = None) -> None:
    """Download and unpack what the selected components (and their dependencies) need."""
    for component in _with_dependencies(components(), names):
        component.install()


def up(names: Iterable[str] | None = None) -> list[ComponentStatus]:
    """Start the selected components and their dependencies, in order, each until healthy.

    Idempotent: components already up are only checked. Raises :class:`StackError` when one
    cannot be started or does not become healthy in time.
    """
    selected = _with_dependencies(components(), names)
    for component in selected:
        component.start()
    return [component.status() for component in selected]


def down(names: Iterable[str] | None = None) -> None:
    """Stop the selected components (default: all), dependents first."""
    for component in reversed(_select(components(), names)):
        component.stop()


def status(names: Iterable[str] | None = None) -> list[ComponentStatus]:
    """One :class:`ComponentStatus` per selected component, in start order."""
    return [component.status() for component in _select(components(), names)]


def restart(name: str) -> None:
    """Stop component ``name``, then start it again (and wait until it is healthy)."""
    down([name])
    up([name])


@contextmanager
def stopped(name: str) -> Iterator[None]:
    """Run the ``with`` block with component ``name`` stopped; start it again on exit.

    For fault tests: ``with stack.api.stopped("kafka"): ...`` then assert convergence.
    """
    down([name])
    try:
        yield
    finally:
        up([name])


def endpoints() -> dict[str, str]:
    """The variables services need to reach the stack (ours or attached), e.g. for a subprocess."""
    return Settings.from_env().environment()


def reset(*, confirm: bool) -> None:
    """Stop everything and delete all data, logs, pid files and generated configuration.

    Downloads (``dist/``) are kept. ``confirm`` must be true: this is not undoable.
    """
    if not confirm:
        raise StackError(
            "reset deletes all stack data; confirm with `stack reset --yes` (or `make reset CONFIRM=yes`)"
        )
    settings = Settings.from_env()
    down()
    paths = settings.paths
    for directory in (paths.data, paths.logs, paths.run, paths.conf):
        shutil.rmtree(directory, ignore_errors=True)
        logger.info("removed %s", directory)


def _select(all_components: Sequence[Component], names: Iterable[str] | None) -> list[Component]:
    if names is None:
        return list(all_components)
    wanted = set(names)
    known = [c.name for c in all_components]
    unknown = wanted - set(known)
    if unknown:
        raise StackError(f"unknown component(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return [c for c in all_components if c.name in wanted]


def _with_dependencies(all_components: Sequence[Component], names: Iterable[str] | None) -> list[Component]:
    selected = {c.name for c in _select(all_components, names)}
    by_name = {c.name: c for c in all_components}
    pending = list(selected)
    while pending:
        for dependency in by_name[pending.pop()].depends_on:
            if dependency not in selected:
                selected.add(dependency)
                pending.append(dependency)
    return [c for c in all_components if c.name in selected]
