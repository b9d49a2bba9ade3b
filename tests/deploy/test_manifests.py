"""deploy/: the overlays render, validate against Kubernetes and Strimzi schemas, agree with the
code that generates their connectors and topics, and keep the operability rules.

Offline (after ``deploy/tools/install.py``); no cluster is involved.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.deploy import policy
from tests.deploy.conftest import OVERLAYS, REPO, by_kind, generate

pytestmark = pytest.mark.deploy


def kubeconform(tools: ModuleType, text: str) -> dict[str, Any]:
    """kubeconform -strict over ``text`` with the local schemas; its JSON report."""
    result = subprocess.run(
        [
            str(tools.tool("kubeconform")),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-schema-location",
            str(tools.kubernetes_schema_dir()) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-schema-location",
            str(tools.strimzi_schema_dir())
            + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


# --- schema validation --------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_of_the_overlay_is_valid_against_kubernetes_and_strimzi_schemas(
    tools: ModuleType, rendered_text: dict[str, str], overlay: str
) -> None:
    # When the overlay is validated, strictly (unknown fields are errors), with no schema missing
    report = kubeconform(tools, rendered_text[overlay])
    # Then every resource is valid and none was skipped for want of a schema
    problems = [r for r in report["resources"] if r["status"] != "statusValid"]
    assert problems == []
    summary = report["summary"]
    assert summary["valid"] == len([d for d in yaml.safe_load_all(rendered_text[overlay]) if d])
    assert (summary["invalid"], summary["errors"], summary["skipped"]) == (0, 0, 0)
    assert report["returncode"] == 0


def test_validation_catches_a_misspelled_field_in_a_kubernetes_and_a_strimzi_resource(
    tools: ModuleType, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    # Given the dev overlay with a typo in a Deployment and one in a KafkaConnector
    docs = copy.deepcopy(rendered["dev"])
    deployment = next(d for d in docs if d["metadata"]["name"] == "points-consumer")
    spec = deployment["spec"]["template"]["spec"]
    spec["terminationGracePeriodSecond"] = spec.pop("terminationGracePeriodSeconds")
    connector = next(d for d in by_kind(docs, "KafkaConnector") if d["metadata"]["name"] == "orders-cdc")
    connector["spec"]["autoRestart"]["enable"] = connector["spec"]["autoRestart"].pop("enabled")
    # When validated
    report = kubeconform(tools, dump(docs))
    # Then both are reported invalid, naming the field, and the run fails
    invalid = {r["name"]: r["msg"] for r in report["resources"] if r["status"] == "statusInvalid"}
    assert set(invalid) == {"points-consumer", "orders-cdc"}
    assert "terminationGracePeriodSecond" in invalid["points-consumer"]
    assert "enable" in invalid["orders-cdc"]
    assert report["returncode"] != 0


# --- generated from the code ----------------------------------------------------------------


def test_the_committed_generated_manifests_are_what_the_code_generates(
    generated_files: dict[Path, str],
) -> None:
    # Then regenerating from the services' code and the stack's POMs changes nothing
    # (on failure: `make deploy-manifests` and commit)
    assert generate.drift(generated_files) == []


def test_an_edited_generated_file_is_reported_as_drift(
    generated_files: dict[Path, str], tmp_path: Path
) -> None:
    # Given the generated files, one of them edited by hand (a connector's poll interval)
    committed = {}
    for path, content in generated_files.items():
        copy_path = tmp_path / path.name
        copy_path.write_text(content)
        committed[copy_path] = content
    target = tmp_path / "connectors.yaml"
    target.write_text(target.read_text().replace("poll.interval.ms: '10'", "poll.interval.ms: '500'", 1))
    # When checked against what the code generates
    diffs = generate.drift(committed)
    # Then exactly that file drifted, and the diff shows the change
    assert len(diffs) == 1
    assert "connectors.yaml" in diffs[0]
    assert "-    poll.interval.ms: '500'" in diffs[0]
    assert "+    poll.interval.ms: '10'" in diffs[0]


def _manifest_connectors(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Each KafkaConnector as the config Strimzi posts to Connect (class and tasks.max included)."""
    return {
        d["metadata"]["name"]: {
            **{k: str(v) for k, v in d["spec"]["config"].items()},
            "connector.class": d["spec"]["class"],
            "tasks.max": str(d["spec"]["tasksMax"]),
        }
        for d in by_kind(docs, "KafkaConnector")
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_connector_configs_equal_what_the_local_stack_posts_to_connect(
    rendered: dict[str, list[dict[str, Any]]], local_stack_view: dict[str, dict[str, Any]], overlay: str
) -> None:
    # Given what each service's EVENTING['CONNECTORS'] posts to the local stack's Connect
    local = {
        c["name"]: (service, c["config"])
        for service, view in local_stack_view.items()
        for c in view["connectors"]
    }
    manifest = _manifest_connectors(rendered[overlay])
    # Then the cluster has the same connectors...
    assert set(manifest) == set(local) == {"customers-outbox", "orders-outbox", "orders-cdc"}
    for name, (service, local_config) in local.items():
        cluster_config = manifest[name]
        # ... with the same keys and values, but for the database endpoint (from the Secret)
        # and the registry's address (the in-cluster Service)
        assert set(cluster_config) == set(local_config)
        endpoint = set(generate.ENDPOINT_KEYS) | {"value.converter.apicurio.registry.url"}
        assert {k: v for k, v in cluster_config.items() if k not in endpoint} == {
            k: v for k, v in local_config.items() if k not in endpoint
        }
        for key, secret_key in generate.ENDPOINT_KEYS.items():
            assert cluster_config[key] == f"${{dir:/mnt/secrets/{service}-cdc-db:{secret_key}}}"
        if "value.converter.apicurio.registry.url" in local_config:
            assert local_config["value.converter.apicurio.registry.url"].startswith("http://127.0.0.1:")
            assert cluster_config["value.converter.apicurio.registry.url"] == generate.CLUSTER_APICURIO_URL


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_connect_can_resolve_every_secret_reference_of_the_connectors(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    # Given the KafkaConnect and its connectors
    docs = rendered[overlay]
    (connect,) = by_kind(docs, "KafkaConnect")
    assert connect["spec"]["config"]["config.providers"] == "dir"
    mounts = {
        m["mountPath"]: m["name"] for m in connect["spec"]["template"]["connectContainer"]["volumeMounts"]
    }
    volumes = {v["name"]: v["secret"]["secretName"] for v in connect["spec"]["template"]["pod"]["volumes"]}
    # Then every ${dir:<path>:<key>} names a directory where a Secret is mounted
    for connector in by_kind(docs, "KafkaConnector"):
        assert connector["metadata"]["labels"]["strimzi.io/cluster"] == connect["metadata"]["name"]
        assert connector["spec"]["autoRestart"]["enabled"] is True
        for value in connector["spec"]["config"].values():
            match = re.fullmatch(r"\$\{dir:([^:}]+):([^}]+)\}", str(value))
            if match:
                assert match[1] in mounts, f"{connector['metadata']['name']}: {match[1]} is not mounted"
                assert volumes[mounts[match[1]]] == Path(match[1]).name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_the_code_uses_is_a_kafka_topic_with_explicit_partitions(
    rendered: dict[str, list[dict[str, Any]]], local_stack_view: dict[str, dict[str, Any]], overlay: str
) -> None:
    topics = {d["spec"]["topicName"]: d["spec"] for d in by_kind(rendered[overlay], "KafkaTopic")}
    needed = {"private_orders_order_cdc"}
    for view in local_stack_view.values():
        needed |= set(view["published_topics"])
        for group_topics in (*view["consumed_topics"].values(), *view["dead_letter_topics"].values()):
            needed |= set(group_topics)
    assert needed <= set(topics)
    assert all(isinstance(spec["partitions"], int) and spec["partitions"] > 0 for spec in topics.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_consumer_replicas_do_not_exceed_the_partitions_of_their_topics(
    rendered: dict[str, list[dict[str, Any]]], local_stack_view: dict[str, dict[str, Any]], overlay: str
) -> None:
    # A member beyond the partition count gets no partition: it would sit idle.
    docs = rendered[overlay]
    partitions = {d["spec"]["topicName"]: d["spec"]["partitions"] for d in by_kind(docs, "KafkaTopic")}
    for deployment in by_kind(docs, "Deployment"):
        group = deployment["metadata"]["labels"].get("eventing.io/consumer-group")
        if not group:
            continue
        service = deployment["metadata"]["labels"]["app.kubernetes.io/name"]
        consumed = local_stack_view[service]["consumed_topics"][group]
        assert deployment["spec"]["replicas"] <= min(partitions[t] for t in consumed)


# --- operability rules ------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_consumer_pods_get_their_shutdown_timeout_to_stop(
    rendered: dict[str, list[dict[str, Any]]], local_stack_view: dict[str, dict[str, Any]], overlay: str
) -> None:
    consumers = [
        d for d in by_kind(rendered[overlay], "Deployment") if d["metadata"]["name"].endswith("-consumer")
    ]
    assert {d["metadata"]["name"] for d in consumers} == {"orders-consumer", "points-consumer"}
    for deployment in consumers:
        service = deployment["metadata"]["labels"]["app.kubernetes.io/name"]
        timeout = local_stack_view[service]["consumer_shutdown_timeout"]
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        # SIGTERM, then up to the shutdown timeout to finish the batch and commit, then the exit
        assert grace == math.ceil(timeout) + generate.SHUTDOWN_MARGIN_SECONDS
        assert grace > timeout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_password_or_key_is_written_into_the_manifests(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    assert policy.literal_secrets(rendered[overlay]) == []


def test_a_literal_password_in_a_manifest_is_caught(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # Given three ways of writing a password into the manifests
    docs = copy.deepcopy(rendered["prod"])
    connector = next(
        d for d in by_kind(docs, "KafkaConnector") if d["metadata"]["name"] == "customers-outbox"
    )
    connector["spec"]["config"]["database.password"] = "postgres"
    registry = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "registry")
    registry_env = registry["spec"]["template"]["spec"]["containers"][0]["env"]
    next(e for e in registry_env if e["name"] == "APICURIO_DATASOURCE_PASSWORD").update(
        {"value": "hunter2", "valueFrom": None}
    )
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    config_map["data"]["KAFKA_BOOTSTRAP_SERVERS"] = "sasl://app:hunter2@eventing-kafka-bootstrap:9092"
    # Then each is reported
    findings = policy.literal_secrets(docs)
    assert any("KafkaConnector/customers-outbox: literal database.password" in f for f in findings)
    assert any("Deployment/registry registry: literal APICURIO_DATASOURCE_PASSWORD" in f for f in findings)
    assert any("ConfigMap/eventing-endpoints: credentials in a URL" in f for f in findings)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_and_consumer_container_has_readiness_and_liveness_on_health(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    names = {d["metadata"]["name"] for d in by_kind(docs, "Deployment")}
    assert {"customers", "orders", "points", "orders-consumer", "points-consumer"} <= names
    assert policy.missing_health_probes(docs) == []


def test_a_container_without_a_liveness_probe_is_caught(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = copy.deepcopy(rendered["prod"])
    consumer = next(d for d in docs if d["metadata"]["name"] == "orders-consumer")
    del consumer["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert policy.missing_health_probes(docs) == [
        "Deployment/orders-consumer consumer: no livenessProbe on /health/"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_pod_disruption_budget(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    assert policy.unprotected_deployments(rendered[overlay]) == []


def test_a_deployment_without_a_budget_is_caught(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = [
        d
        for d in rendered["prod"]
        if not (d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == "points")
    ]
    assert policy.unprotected_deployments(docs) == ["Deployment/points: no PodDisruptionBudget"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_pods_carry_prometheus_scrape_annotations_on_a_real_port(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    assert policy.missing_scrape_annotations(rendered[overlay]) == []


def test_versions_are_the_local_stacks(rendered: dict[str, list[dict[str, Any]]]) -> None:
    from stack import jvm

    docs = rendered["prod"]
    poms = REPO / "infra" / "maven"

    def pinned(pom: str, prop: str) -> str:
        match = re.search(rf"<{prop}>([^<]+)</{prop}>", (poms / pom / "pom.xml").read_text())
        assert match
        return match[1]

    (kafka,) = by_kind(docs, "Kafka")
    (connect,) = by_kind(docs, "KafkaConnect")
    assert kafka["spec"]["kafka"]["version"] == connect["spec"]["version"] == jvm.KAFKA_VERSION
    assert pinned("kafka", "kafka.version") == jvm.KAFKA_VERSION
    registry = next(d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "registry")
    image = registry["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(f":{pinned('apicurio-registry', 'apicurio.version')}")
    urls = [a["url"] for p in connect["spec"]["build"]["plugins"] for a in p["artifacts"]]
    debezium = pinned("debezium-postgres", "debezium.version")
    converter = pinned("apicurio-converter", "apicurio.converter.version")
    assert any(u.endswith(f"debezium-connector-postgres-{debezium}-plugin.tar.gz") for u in urls)
    assert any(u.endswith(f"apicurio-registry-utils-converter-{converter}.jar") for u in urls)
    assert all(a.get("sha512sum") for p in connect["spec"]["build"]["plugins"] for a in p["artifacts"])
    # One plugin directory: the converter shares Debezium's class loader, as on the local stack.
    assert len(connect["spec"]["build"]["plugins"]) == 1
