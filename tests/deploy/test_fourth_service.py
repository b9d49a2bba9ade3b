"""Adding a fourth service touches nothing outside its folder.

A copy of the parts of the repository that find the services (the stack, deploy/, the Makefile,
the test runner, each service's pyproject.toml) gets a new folder ``services/loyalty`` (points'
pyproject.toml with a new name and ``[tool.stack]`` table), and nothing else is edited. Then the
new service is in the stack's topology, in the generated Kubernetes manifests of both overlays
(valid, with its images and replicas), and in what the Makefile and scripts/test.sh run, and
the only files that changed outside ``services/loyalty`` are the generator's own output.

Offline: ``generate.py --only services`` reads the ``[tool.stack]`` tables alone (the Django and
Maven parts need the service's code installed, which a scratch copy is not).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import OVERLAYS, REPO, by_kind, kustomize_build
from tests.deploy.test_manifests import kubeconform

pytestmark = pytest.mark.deploy

NEW = "loyalty"
NEW_TABLE = """\
[tool.stack]
database = "loyalty"
port = 8004
connectors = false

[tool.stack.consumer]
group = "loyalty.tiers"
metrics_port = 9104
"""


def _copy_checkout(root: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("deploy", "infra/src/stack"):
        shutil.copytree(REPO / part, root / part, ignore=ignore)
    for part in ("Makefile", "scripts/test.sh"):
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / part, root / part)
    for library in ("libs/eventing", "libs/chassis"):  # test.sh cds into them
        (root / library).mkdir(parents=True)
    for project in sorted(REPO.glob("services/*/pyproject.toml")):
        target = root / project.relative_to(REPO)
        target.parent.mkdir(parents=True)
        shutil.copy2(project, target)


def _add_service(root: Path) -> None:
    """``services/loyalty``: points' description with its own name and ``[tool.stack]``."""
    text = (REPO / "services" / "points" / "pyproject.toml").read_text()
    text = text.replace('name = "points-service"', f'name = "{NEW}-service"')
    text = re.sub(r"(?ms)^\[tool\.stack\]\n.*?(?=^\[tool\.uv)", NEW_TABLE + "\n", text)
    assert '[tool.stack.consumer]\ngroup = "loyalty.tiers"' in text
    folder = root / "services" / NEW
    folder.mkdir()
    (folder / "pyproject.toml").write_text(text)


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _run(root: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv,
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{argv} failed: {result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The scratch checkout after adding the folder and regenerating; what changed."""
    root = tmp_path_factory.mktemp("checkout")
    _copy_checkout(root)
    before = _snapshot(root)
    _add_service(root)
    generated = _run(root, [sys.executable, "deploy/tools/generate.py", "--only", "services"])
    after = _snapshot(root)
    changed = sorted(
        path
        for path in set(before) | set(after)
        if before.get(path) != after.get(path) and not path.startswith(".stack/")
    )
    return {"root": root, "changed": changed, "generated": generated.stdout}


def test_only_the_new_folder_and_the_generators_output_changed(checkout: dict[str, Any]) -> None:
    assert checkout["changed"] == [
        "deploy/base/generated/services.yaml",  # written by generate.py, never by hand
        f"services/{NEW}/pyproject.toml",
    ]
    assert checkout["generated"] == "wrote deploy/base/generated/services.yaml\n"


def test_the_stack_runs_the_new_service_and_its_consumer(checkout: dict[str, Any]) -> None:
    root: Path = checkout["root"]
    program = (
        "import json, stack\n"
        "from stack import api\n"
        "from stack.settings import PORTS\n"
        "print(json.dumps({'module': stack.__file__,"
        " 'components': [[c.name, list(c.depends_on), c.endpoint] for c in api.components()],"
        " 'ports': {n: [p.env_var, p.default] for n, p in PORTS.items()}}))\n"
    )
    result = _run(
        root,
        [sys.executable, "-c", program],
        PYTHONPATH=str(root / "infra" / "src"),
        STACK_HOME=str(root / ".stack"),
    )
    view = json.loads(result.stdout)

    assert view["module"] == str(root / "infra" / "src" / "stack" / "__init__.py"), "the copy's stack ran"
    components = {name: (deps, endpoint) for name, deps, endpoint in view["components"]}
    assert components[NEW] == (["postgres", "kafka", "registry", "connect"], "http://127.0.0.1:8004")
    assert components[f"{NEW}-consumer"] == (
        [NEW],
        "consumer group loyalty.tiers, metrics http://127.0.0.1:9104/metrics",
    )
    assert f"{NEW}-supervisor" not in components  # connectors = false
    assert list(components) == [  # the servers, then the services in name order
        *("postgres", "kafka", "registry", "connect", "customers", "customers-supervisor"),
        *(NEW, f"{NEW}-consumer", "orders", "orders-consumer", "orders-supervisor"),
        *("points", "points-consumer"),
    ]
    assert view["ports"][NEW] == ["LOYALTY_PORT", 8004]
    assert view["ports"][f"{NEW}-consumer"] == ["LOYALTY_CONSUMER_METRICS_PORT", 9104]


@pytest.fixture(scope="module")
def scratch_rendered(tools: ModuleType, checkout: dict[str, Any]) -> dict[str, str]:
    root: Path = checkout["root"]
    return {name: kustomize_build(tools, root / "deploy" / "overlays" / name) for name in OVERLAYS}


@pytest.mark.parametrize(
    ("overlay", "image", "replicas"),
    [
        ("dev", "localhost:5000/eventing/loyalty:dev", 1),
        ("prod", "registry.example.com/eventing/loyalty:0.1.0", 3),
    ],
)
def test_the_new_service_is_deployed_by_both_overlays(
    scratch_rendered: dict[str, str], overlay: str, image: str, replicas: int
) -> None:
    docs = [d for d in yaml.safe_load_all(scratch_rendered[overlay]) if d]

    deployments = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
    web, consumer = deployments[NEW], deployments[f"{NEW}-consumer"]
    assert web["spec"]["replicas"] == consumer["spec"]["replicas"] == replicas
    pods = [web["spec"]["template"]["spec"], consumer["spec"]["template"]["spec"]]
    images = {c["image"] for pod in pods for c in (*pod["containers"], *pod.get("initContainers", []))}
    assert images == {image}
    env = {e["name"]: e for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DJANGO_SETTINGS_MODULE"]["value"] == "loyalty_site.settings"
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "loyalty-db"
    assert env["DJANGO_ALLOWED_HOSTS"]["value"] == "localhost,loyalty"
    command = consumer["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--group") + 1] == "loyalty.tiers"
    assert consumer["metadata"]["labels"]["eventing.io/consumer-group"] == "loyalty.tiers"
    assert NEW in {d["metadata"]["name"] for d in by_kind(docs, "Service")}
    assert {NEW, f"{NEW}-consumer"} <= {d["metadata"]["name"] for d in by_kind(docs, "PodDisruptionBudget")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_scratch_overlays_are_valid(
    tools: ModuleType, scratch_rendered: dict[str, str], overlay: str
) -> None:
    report = kubeconform(tools, scratch_rendered[overlay])

    assert report["returncode"] == 0, [r for r in report["resources"] if r["status"] != "statusValid"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_existing_services_render_as_in_the_repository(
    rendered_text: dict[str, str], scratch_rendered: dict[str, str], overlay: str
) -> None:
    # Adding a service adds its resources and changes none of the others'.
    def others(text: str) -> list[dict[str, Any]]:
        docs = [d for d in yaml.safe_load_all(text) if d]
        return [d for d in docs if d["metadata"]["name"] not in (NEW, f"{NEW}-consumer")]

    assert others(scratch_rendered[overlay]) == others(rendered_text[overlay])


def _fake(path: Path, log: Path) -> None:
    """A stand-in program that records its working directory and arguments, and succeeds."""
    path.write_text(f'#!/bin/sh\necho "$(pwd) :: $(basename "$0") $*" >> {log}\nexit 0\n')
    path.chmod(0o755)


def test_the_makefile_tests_and_type_checks_the_new_service(checkout: dict[str, Any]) -> None:
    root: Path = checkout["root"]

    for target in ("test-unit", "lint"):
        planned = _run(root, ["make", "--no-print-directory", "-n", target]).stdout

        loops = re.findall(r"^for s in (.*?); do \(cd services/\$s && ", planned, flags=re.MULTILINE)
        assert [sorted(loop.split()) for loop in loops] == [["customers", NEW, "orders", "points"]], planned


def test_the_test_runner_runs_the_new_services_tiers(checkout: dict[str, Any], tmp_path: Path) -> None:
    # scripts/test.sh of the copy, with `uv` and `make` replaced by recorders: nothing runs,
    # nothing touches a stack; the record shows what it would run, and where.
    root: Path = checkout["root"]
    fakes, log = tmp_path / "bin", tmp_path / "calls.log"
    fakes.mkdir()
    for program in ("uv", "make"):
        _fake(fakes / program, log)

    result = subprocess.run(
        ["bash", str(root / "scripts" / "test.sh")],
        cwd=root,
        env={"PATH": f"{fakes}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    assert f"{root}/services/{NEW} :: uv run --frozen --all-packages pytest -q -m unit" in calls
    assert f"{root}/services/{NEW} :: uv run --frozen --all-packages pytest -q -m not unit" in calls
    assert f"== unit ({NEW}): " in result.stdout
    assert f"== service {NEW}: " in result.stdout


def test_the_workspace_and_the_linters_find_a_new_service_by_glob() -> None:
    """The root pyproject.toml names no service: uv's members and ruff's first-party roots are globs."""
    import fnmatch
    import tomllib

    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    assert any(fnmatch.fnmatch(f"services/{NEW}", pattern) for pattern in members), members
    sources = root["tool"]["ruff"]["src"]
    assert any(fnmatch.fnmatch(f"services/{NEW}/src", pattern) for pattern in sources), sources
    named = json.dumps({k: v for k, v in root.items() if k != "tool"}) + json.dumps(root["tool"]["uv"])
    for service in sorted(p.parent.name for p in REPO.glob("services/*/pyproject.toml")):
        assert f"{service}-service" not in named, f"the root pyproject.toml still names {service}"
