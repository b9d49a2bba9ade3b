"""Fixtures of the deploy tests: the tools, the rendered overlays, what the code generates.

Everything here is offline once ``deploy/tools/install.py`` has run (the ``tools`` fixture runs
it: idempotent, a no-op when everything is in ``.deploy-tools/``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")


def _load(name: str) -> ModuleType:
    """``deploy/tools/<name>.py`` as module ``deploy_<name>`` (deploy/ is not a package)."""
    module_name = f"deploy_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, REPO / "deploy" / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


install = _load("install")
generate = _load("generate")


@pytest.fixture(scope="session")
def tools() -> ModuleType:
    """The installed tools (kustomize, kubeconform, schemas); fails with install's one line."""
    try:
        install.ensure()
    except install.InstallError as exc:
        pytest.fail(f"deploy tools could not be installed: {exc}", pytrace=False)
    return install


def kustomize_build(tools: ModuleType, path: Path) -> str:
    result = subprocess.run(
        [str(tools.tool("kustomize")), "build", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"kustomize build {path} failed: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def rendered_text(tools: ModuleType) -> dict[str, str]:
    """Each overlay as ``kustomize build`` prints it."""
    return {name: kustomize_build(tools, REPO / "deploy" / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Each overlay's resources, parsed."""
    return {name: [d for d in yaml.safe_load_all(text) if d] for name, text in rendered_text.items()}


@pytest.fixture(scope="session")
def generated_files(tools: ModuleType) -> dict[Path, str]:
    """What ``generate.py`` would write now (from the code and the POMs)."""
    return generate.render()


@pytest.fixture(scope="session")
def local_stack_view() -> dict[str, dict[str, Any]]:
    """What each service's code produces in the local stack's environment (``make up``):
    the connectors ``eventing_connectors apply`` posts to Connect, topics, shutdown timeout."""
    from stack.services import SERVICES, service_env
    from stack.settings import Settings

    settings = Settings.from_env({})  # the stack's defaults, whatever this shell exports
    return {
        s.name: generate.introspect(
            s.name, [s.consumer_group] if s.consumer_group else [], service_env(settings, s)
        )
        for s in SERVICES
    }


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]
