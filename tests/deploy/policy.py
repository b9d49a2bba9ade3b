"""Rules every rendered manifest keeps, as functions returning what breaks them.

Each returns a list of findings (empty: the rule holds), so a test can show both that the
shipped manifests pass and that a manifest breaking the rule is caught.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

#: Names of settings that hold a secret: they must come from a Secret, never a literal.
SECRET_NAME = re.compile(r"password|passwd|secret|token|credential|api[_-]?key|private[_-]?key", re.I)
#: A URL with credentials in it (scheme://user:password@host).
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I)
#: A Kafka config-provider reference (${provider:path:key}): resolved at run time, not a literal.
CONFIG_REFERENCE = re.compile(r"^\$\{[a-z]+:[^}]+\}$")


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        spec: dict[str, Any] = doc["spec"]["template"]["spec"]
        return spec
    return None


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pod = _pod_spec(doc)
    if pod:
        yield from pod.get("initContainers", [])
        yield from pod.get("containers", [])


def _name(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def literal_secrets(docs: list[dict[str, Any]]) -> list[str]:
    """Passwords and keys written into the manifests instead of referenced from Secrets."""
    findings = []
    for doc in docs:
        if doc["kind"] == "Secret":
            findings.append(f"{_name(doc)}: a Secret in the manifests (create Secrets out of band)")
        for container in _containers(doc):
            for env in container.get("env", []):
                if "value" in env and SECRET_NAME.search(env["name"]):
                    findings.append(f"{_name(doc)} {container['name']}: literal {env['name']}")
        if doc["kind"] == "ConfigMap":
            for key in doc.get("data", {}):
                if SECRET_NAME.search(key):
                    findings.append(f"{_name(doc)}: secret-like key {key} in a ConfigMap")
        if doc["kind"] in ("KafkaConnector", "KafkaConnect"):
            for key, value in (doc["spec"].get("config") or {}).items():
                if SECRET_NAME.search(key) and not CONFIG_REFERENCE.match(str(value)):
                    findings.append(f"{_name(doc)}: literal {key} (use a ${{dir:...}} reference)")
        findings.extend(f"{_name(doc)}: credentials in a URL" for _ in _urls_with_passwords(doc))
    return findings


def _urls_with_passwords(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _urls_with_passwords(value)
    elif isinstance(node, list):
        for value in node:
            yield from _urls_with_passwords(value)
    elif isinstance(node, str) and URL_WITH_PASSWORD.search(node):
        yield node


def _is_ours(doc: dict[str, Any]) -> bool:
    """A Deployment of one of the services (web or consumer)."""
    labels = doc["metadata"].get("labels", {})
    return doc["kind"] == "Deployment" and labels.get("app.kubernetes.io/component") in ("web", "consumer")


def missing_health_probes(docs: list[dict[str, Any]]) -> list[str]:
    """Service containers without a readiness and a liveness probe on ``/health/``."""
    findings = []
    for doc in filter(_is_ours, docs):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                path = (container.get(probe) or {}).get("httpGet", {}).get("path", "")
                if not path.startswith("/health/"):
                    findings.append(f"{_name(doc)} {container['name']}: no {probe} on /health/")
    return findings


def missing_scrape_annotations(docs: list[dict[str, Any]]) -> list[str]:
    """Service pods that Prometheus would not scrape, or would scrape on a port they lack."""
    findings = []
    for doc in filter(_is_ours, docs):
        template = doc["spec"]["template"]
        notes = template["metadata"].get("annotations", {})
        if notes.get("prometheus.io/scrape") != "true" or notes.get("prometheus.io/path") != "/metrics":
            findings.append(f"{_name(doc)}: no prometheus.io/scrape + path /metrics")
            continue
        ports = {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        if int(notes.get("prometheus.io/port", 0)) not in ports:
            findings.append(f"{_name(doc)}: prometheus.io/port is not a container port")
    return findings


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def unprotected_deployments(docs: list[dict[str, Any]]) -> list[str]:
    """The system's Deployments and StatefulSets that no PodDisruptionBudget selects."""
    budgets = [d["spec"]["selector"] for d in docs if d["kind"] == "PodDisruptionBudget"]
    findings = []
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        labels = doc["spec"]["template"]["metadata"].get("labels", {})
        if labels.get("app.kubernetes.io/part-of") != "eventing":
            continue
        if not any(_selects(selector, labels) for selector in budgets):
            findings.append(f"{_name(doc)}: no PodDisruptionBudget")
    return findings
