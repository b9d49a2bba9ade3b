"""The components of the stack, declared in one place, in start order.

Each entry is either a :class:`~stack.executor.ProcessComponent` (we run it) or, when its
attach variable is set, an :class:`~stack.executor.ExternalComponent` (we use an existing
server). To add a process (a Django web server, a consumer), register its port in
:data:`stack.settings.PORTS` (``"customers": PortSpec("CUSTOMERS_PORT", 8001)``), then append
one declaration to :func:`build`::

    def _customers(s: Settings) -> Component:
        port = s.ports["customers"]
        return ProcessComponent(
            name="customers",
            argv=[sys.executable, "-m", "gunicorn", f"--bind=127.0.0.1:{port}", "config.wsgi"],
            env={**s.environment(), "DATABASE_URL": s.postgres.url("customer")},
            probe=HttpProbe(f"http://127.0.0.1:{port}/health/"),
            paths=s.paths,
            endpoint=f"http://127.0.0.1:{port}",
            ports=[PortBinding.of("customers", s.ports)],
            depends_on=("postgres", "kafka", "registry", "connect"),
        )
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from stack import connect, jvm, kafka, postgres, schema_registry, services
from stack.executor import Component, ExternalComponent, PortBinding, ProcessComponent
from stack.install import MavenDistribution, PostgresBinaries
from stack.probes import AllProbes, HttpProbe, KafkaProbe, PostgresProbe
from stack.settings import LOOPBACK, Settings


def build(s: Settings) -> list[Component]:
    """Every component for settings ``s``, in dependency order: servers, then services."""
    return [_postgres(s), _kafka(s), _registry(s), _connect(s), *services.components(s)]


def _postgres(s: Settings) -> Component:
    target = s.postgres
    create_databases = partial(postgres.ensure_databases, target, s.all_databases)
    probe = PostgresProbe(target.conninfo())
    if s.postgres_attach:
        return ExternalComponent(
            name="postgres",
            endpoint=f"{target.host}:{target.port}",
            probe=probe,
            attach_var="POSTGRES_URL",
            after_ready=[create_databases],
        )
    return ProcessComponent(
        name="postgres",
        argv=postgres.argv(s),
        probe=probe,
        paths=s.paths,
        endpoint=f"postgresql://{LOOPBACK}:{s.ports['postgres']}",
        ports=[PortBinding.of("postgres", s.ports)],
        cwd=postgres.data_dir(s),
        user=postgres.run_as(),
        distributions=[PostgresBinaries(s.postgres_bin)],
        prepare=[lambda: postgres.init_cluster(s)],
        after_ready=[create_databases],
        stop_argv=postgres.stop_argv(s),
        start_timeout=60.0,
    )


def _kafka(s: Settings) -> Component:
    probe = KafkaProbe(s.kafka_bootstrap_servers)
    if s.kafka_attach:
        return ExternalComponent(
            name="kafka",
            endpoint=s.kafka_bootstrap_servers,
            probe=probe,
            attach_var="KAFKA_BOOTSTRAP_SERVERS",
        )
    return ProcessComponent(
        name="kafka",
        argv=lambda: kafka.argv(s),
        probe=probe,
        paths=s.paths,
        endpoint=s.kafka_bootstrap_servers,
        ports=[PortBinding.of("kafka", s.ports), PortBinding.of("kafka-controller", s.ports)],
        cwd=kafka.data_dir(s),
        distributions=[_kafka_dist(s)],
        prepare=[lambda: kafka.write_config(s), lambda: kafka.format_storage(s)],
    )


def _registry(s: Settings) -> Component:
    base = s.registry_base_url
    if s.registry_attach:
        return ExternalComponent(
            name="registry",
            endpoint=s.schema_registry_url,
            probe=HttpProbe(f"{s.schema_registry_url}/subjects"),
            attach_var="SCHEMA_REGISTRY_URL",
        )
    return ProcessComponent(
        name="registry",
        argv=lambda: schema_registry.argv(s),
        env=schema_registry.env(s),
        probe=AllProbes(
            [
                HttpProbe(schema_registry.health_url(s)),
                HttpProbe(f"{base}/apis/registry/v3/system/info"),
            ]
        ),
        paths=s.paths,
        endpoint=s.schema_registry_url,
        ports=[PortBinding.of("registry", s.ports), PortBinding.of("registry-management", s.ports)],
        cwd=jvm.apicurio_home(s),
        depends_on=("postgres",),
        distributions=[
            MavenDistribution(
                name=f"Apicurio Registry {jvm.APICURIO_VERSION}",
                pom_dir="apicurio-registry",
                dest=jvm.apicurio_home(s),
                coordinates=f"io.apicurio:apicurio-registry-app:{jvm.APICURIO_VERSION}:tar.gz:all",
                size="~158 MB",
                staging=_staging(s, "apicurio-registry"),
                java_home=s.java_home,
                unpack=True,
            ),
        ],
    )


def _connect(s: Settings) -> Component:
    probe = AllProbes(
        [
            HttpProbe(f"{s.connect_url}/"),
            HttpProbe(f"{s.connect_url}/connector-plugins", contains=connect.POSTGRES_CONNECTOR),
        ]
    )
    if s.connect_attach:
        return ExternalComponent(
            name="connect",
            endpoint=s.connect_url,
            probe=probe,
            attach_var="CONNECT_URL",
        )
    plugin_dir = jvm.connect_plugins(s) / connect.DEBEZIUM_PLUGIN_DIR
    return ProcessComponent(
        name="connect",
        argv=lambda: connect.argv(s),
        probe=probe,
        paths=s.paths,
        endpoint=s.connect_url,
        ports=[PortBinding.of("connect", s.ports)],
        cwd=s.paths.home,
        depends_on=("kafka", "registry"),
        distributions=[
            _kafka_dist(s),
            MavenDistribution(
                name="Debezium Postgres connector 3.6.3.Final",
                pom_dir="debezium-postgres",
                dest=plugin_dir,
                coordinates="io.debezium:debezium-connector-postgres:3.6.3.Final:tar.gz:plugin",
                size="~5 MB",
                staging=_staging(s, "debezium-postgres"),
                java_home=s.java_home,
                unpack=True,
            ),
            MavenDistribution(
                name="Apicurio AvroConverter 2.6.13.Final (into the Debezium plugin)",
                pom_dir="apicurio-converter",
                dest=plugin_dir,
                coordinates="io.apicurio:apicurio-registry-utils-converter:2.6.13.Final",
                size="~7 MB in 23 jars",
                staging=_staging(s, "apicurio-converter"),
                java_home=s.java_home,
            ),
        ],
        prepare=[lambda: connect.write_config(s)],
    )


def _kafka_dist(s: Settings) -> MavenDistribution:
    return MavenDistribution(
        name=f"Kafka {jvm.KAFKA_VERSION} (broker + Connect runtime)",
        pom_dir="kafka",
        dest=jvm.kafka_libs(s),
        coordinates=f"org.apache.kafka:kafka_2.13:{jvm.KAFKA_VERSION} + connect-runtime",
        size="~54 MB in 92 jars",
        staging=_staging(s, "kafka"),
        java_home=s.java_home,
    )


def _staging(s: Settings, name: str) -> Path:
    return s.paths.dist / ".staging" / name
