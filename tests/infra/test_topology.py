"""The topology: start order, dependency resolution, attach mode, and what ``up``/``down`` drive.

``api`` is exercised with recording stand-in components (nothing starts); the real topology is
built from settings only (building it runs nothing either).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stack import api, topology
from stack.errors import StackError
from stack.executor import ComponentStatus, ExternalComponent, ProcessComponent
from stack.probes import AllProbes, HttpProbe, KafkaProbe, PostgresProbe
from stack.settings import Settings

pytestmark = pytest.mark.unit


@dataclass
class Recording:
    """A component that records what ``api`` asks of it into a shared journal."""

    name: str
    journal: list[str]
    depends_on: tuple[str, ...] = ()
    endpoint: str = "-"
    healthy: bool = True
    fail_start: bool = False
    calls: list[str] = field(default_factory=list)

    def install(self) -> None:
        self.journal.append(f"install {self.name}")

    def start(self) -> None:
        self.journal.append(f"start {self.name}")
        if self.fail_start:
            raise StackError(f"{self.name} exited during start-up")

    def stop(self) -> None:
        self.journal.append(f"stop {self.name}")

    def status(self) -> ComponentStatus:
        state = "up" if self.healthy else "down"
        return ComponentStatus(self.name, state, None, self.endpoint, None if self.healthy else "not running")


@pytest.fixture
def journal() -> list[str]:
    return []


@pytest.fixture
def fake_topology(journal: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Recording]:
    """A small topology like the real one: db <- broker <- registry; web <- consumer."""
    components = [
        Recording("db", journal),
        Recording("broker", journal),
        Recording("registry", journal, ("db",)),
        Recording("connect", journal, ("broker", "registry")),
        Recording("web", journal, ("db", "broker")),
        Recording("web-consumer", journal, ("web",)),
    ]
    monkeypatch.setattr(topology, "build", lambda settings: components)
    return {c.name: c for c in components}


def test_up_of_everything_starts_in_declaration_order(
    journal: list[str], fake_topology: dict[str, Recording]
) -> None:
    statuses = api.up()

    assert journal[:6] == [f"start {n}" for n in fake_topology]
    assert [s.name for s in statuses] == list(fake_topology)


def test_up_of_one_component_starts_its_dependencies_first_and_nothing_else(
    journal: list[str], fake_topology: dict[str, Recording]
) -> None:
    statuses = api.up(["connect"])

    assert journal == ["start db", "start broker", "start registry", "start connect"]
    assert [s.name for s in statuses] == ["db", "broker", "registry", "connect"]


def test_up_resolves_dependencies_transitively(
    journal: list[str], fake_topology: dict[str, Recording]
) -> None:
    api.up(["web-consumer"])

    assert journal == ["start db", "start broker", "start web", "start web-consumer"]


def test_up_stops_at_the_first_failure(journal: list[str], fake_topology: dict[str, Recording]) -> None:
    fake_topology["registry"].fail_start = True

    with pytest.raises(StackError, match="registry exited during start-up"):
        api.up()

    assert journal == ["start db", "start broker", "start registry"]


def test_down_stops_exactly_what_is_asked_dependents_first(
    journal: list[str], fake_topology: dict[str, Recording]
) -> None:
    api.down(["db", "web-consumer"])

    assert journal == ["stop web-consumer", "stop db"]


def test_down_of_everything_is_the_reverse_start_order(
    journal: list[str], fake_topology: dict[str, Recording]
) -> None:
    api.down()

    assert journal == [f"stop {n}" for n in reversed(fake_topology)]


def test_install_covers_dependencies(journal: list[str], fake_topology: dict[str, Recording]) -> None:
    api.install(["registry"])

    assert journal == ["install db", "install registry"]


def test_status_reports_without_starting(journal: list[str], fake_topology: dict[str, Recording]) -> None:
    fake_topology["web"].healthy = False

    statuses = api.status()

    assert journal == []
    assert [s.ok for s in statuses] == [True, True, True, True, False, True]


def test_unknown_names_are_refused_listing_the_known_in_start_order(
    fake_topology: dict[str, Recording],
) -> None:
    with pytest.raises(StackError) as raised:
        api.up(["web", "kafak", "zk"])

    assert str(raised.value) == (
        "unknown component(s) kafak, zk; known: db, broker, registry, connect, web, web-consumer"
    )


def test_restart_stops_then_starts_with_dependencies(
    journal: list[str], fake_topology: dict[str, Recording]
) -> None:
    api.restart("web")

    assert journal == ["stop web", "start db", "start broker", "start web"]


def test_stopped_starts_the_component_again_even_when_the_block_fails(
    journal: list[str], fake_topology: dict[str, Recording]
) -> None:
    def with_broker_stopped() -> None:
        with api.stopped("broker"):
            journal.append("block")
            raise RuntimeError("assertion inside")

    with pytest.raises(RuntimeError, match="assertion inside"):
        with_broker_stopped()

    assert journal == ["stop broker", "block", "start broker"]


def test_a_component_declared_before_its_dependency_is_a_topology_error(
    journal: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        topology,
        "build",
        lambda settings: [Recording("web", journal, ("db",)), Recording("db", journal)],
    )

    with pytest.raises(StackError, match=r"topology: web is declared before its dependencies \['db'\]"):
        api.components()


def test_reset_stops_everything_before_deleting(
    journal: list[str], fake_topology: dict[str, Recording], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_HOME", str(tmp_path))
    (tmp_path / "data").mkdir()

    api.reset(confirm=True)

    assert journal == [f"stop {n}" for n in reversed(fake_topology)]
    assert not (tmp_path / "data").exists()


# --- the real topology, built from settings ---------------------------------------------------


def build(env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    return {c.name: c for c in api.components(Settings.from_env({"STACK_HOME": str(tmp_path), **env}))}


def test_the_real_topology_is_in_dependency_order_with_the_servers_first(tmp_path: Path) -> None:
    components = api.components(Settings.from_env({"STACK_HOME": str(tmp_path)}))

    names = [c.name for c in components]
    assert names[:4] == ["postgres", "kafka", "registry", "connect"]
    for index, each in enumerate(components):
        assert set(each.depends_on) <= set(names[:index]), f"{each.name} starts before a dependency"


def test_every_web_service_waits_for_all_four_servers_and_consumers_for_their_service(tmp_path: Path) -> None:
    components = build({}, tmp_path)

    for name in ("customers", "orders", "points"):
        assert components[name].depends_on == ("postgres", "kafka", "registry", "connect")  # type: ignore[attr-defined]
    assert components["orders-consumer"].depends_on == ("orders",)  # type: ignore[attr-defined]
    assert components["points-consumer"].depends_on == ("points",)  # type: ignore[attr-defined]
    assert components["customers-supervisor"].depends_on == ("customers",)  # type: ignore[attr-defined]
    assert components["registry"].depends_on == ("postgres",)  # type: ignore[attr-defined]
    assert components["connect"].depends_on == ("kafka", "registry")  # type: ignore[attr-defined]


def test_by_default_every_component_is_a_local_process_under_stack_home(tmp_path: Path) -> None:
    components = build({}, tmp_path)

    assert all(isinstance(c, ProcessComponent) for c in components.values())
    for c in components.values():
        assert isinstance(c, ProcessComponent)
        assert c.pid_file.parent == tmp_path / "run"
        assert c.log_file.parent == tmp_path / "logs"


def test_ports_move_into_probes_endpoints_and_port_checks(tmp_path: Path) -> None:
    components = build(
        {
            "POSTGRES_PORT": "15432",
            "KAFKA_PORT": "19092",
            "KAFKA_CONTROLLER_PORT": "19093",
            "CONNECT_PORT": "18083",
        },
        tmp_path,
    )

    postgres, kafka, connect = components["postgres"], components["kafka"], components["connect"]
    assert isinstance(postgres, ProcessComponent)
    assert isinstance(kafka, ProcessComponent)
    assert isinstance(connect, ProcessComponent)
    assert postgres.endpoint == "postgresql://127.0.0.1:15432"
    assert isinstance(postgres.probe, PostgresProbe)
    assert "port=15432" in postgres.probe.conninfo
    assert [b.port for b in kafka.ports] == [19092, 19093]
    assert isinstance(kafka.probe, KafkaProbe)
    assert kafka.probe.bootstrap_servers == "127.0.0.1:19092"
    assert connect.endpoint == "http://127.0.0.1:18083"
    assert isinstance(connect.probe, AllProbes)
    urls = [p.url for p in connect.probe.probes if isinstance(p, HttpProbe)]
    assert urls == ["http://127.0.0.1:18083/", "http://127.0.0.1:18083/connector-plugins"]


def test_attach_variables_turn_servers_into_external_components(tmp_path: Path) -> None:
    components = build(
        {
            "POSTGRES_URL": "postgresql://app:pw@db.internal:6543",
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "SCHEMA_REGISTRY_URL": "http://sr:8080/apis/ccompat/v7",
            "CONNECT_URL": "http://connect:8083",
        },
        tmp_path,
    )

    attached = {n: c for n, c in components.items() if isinstance(c, ExternalComponent)}
    assert {n: c.attach_var for n, c in attached.items()} == {
        "postgres": "POSTGRES_URL",
        "kafka": "KAFKA_BOOTSTRAP_SERVERS",
        "registry": "SCHEMA_REGISTRY_URL",
        "connect": "CONNECT_URL",
    }
    assert attached["postgres"].endpoint == "db.internal:6543"
    assert attached["kafka"].endpoint == "k1:9092,k2:9092"
    # the services are still ours, pointed at the attached servers
    orders = components["orders"]
    assert isinstance(orders, ProcessComponent)
    assert orders.env["KAFKA_BOOTSTRAP_SERVERS"] == "k1:9092,k2:9092"
    assert orders.env["DATABASE_URL"] == "postgresql://app:pw@db.internal:6543/orders"


def test_only_the_attached_component_changes(tmp_path: Path) -> None:
    components = build({"KAFKA_BOOTSTRAP_SERVERS": "broker:9092"}, tmp_path)

    kinds = {
        n: type(c).__name__
        for n, c in components.items()
        if n in ("postgres", "kafka", "registry", "connect")
    }
    assert kinds == {
        "postgres": "ProcessComponent",
        "kafka": "ExternalComponent",
        "registry": "ProcessComponent",
        "connect": "ProcessComponent",
    }


def test_the_servers_wait_long_enough_and_postgres_stops_with_pg_ctl(tmp_path: Path) -> None:
    components = build({"POSTGRES_BIN_DIR": "/opt/pg15/bin"}, tmp_path)

    postgres = components["postgres"]
    assert isinstance(postgres, ProcessComponent)
    assert postgres.stop_argv is not None
    assert postgres.stop_argv[:2] == ["/opt/pg15/bin/pg_ctl", "stop"]
    assert postgres.argv[0] == "/opt/pg15/bin/postgres"  # type: ignore[index]
    assert postgres.cwd == tmp_path / "data" / "postgres"
    assert postgres.start_timeout == 60.0


def test_registry_and_connect_install_into_dist(tmp_path: Path) -> None:
    components = build({}, tmp_path)

    registry, connect = components["registry"], components["connect"]
    assert isinstance(registry, ProcessComponent)
    assert isinstance(connect, ProcessComponent)
    assert [d.name for d in registry.distributions] == ["Apicurio Registry 3.3.3"]
    assert [d.name for d in connect.distributions] == [
        "Kafka 4.3.1 (broker + Connect runtime)",
        "Debezium Postgres connector 3.6.3.Final",
        "Apicurio AvroConverter 2.6.13.Final (into the Debezium plugin)",
    ]
    for dist in (*registry.distributions, *connect.distributions):
        assert str(dist.dest).startswith(str(tmp_path / "dist"))  # type: ignore[attr-defined]
