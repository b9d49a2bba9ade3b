"""What the stack writes and runs for each server, from the settings: command lines, generated
configuration files, the services' environment; all under a tmp ``STACK_HOME``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stack import connect, executor, jvm, kafka, postgres, schema_registry, services
from stack.discovery import Service
from stack.errors import StackError
from stack.executor import ProcessComponent
from stack.probes import NotReady
from stack.services import StatusRowProbe, service_env
from stack.settings import PORTS, PortSpec, Settings
from tests.infra.fakes import executable, free_port

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    java_home = tmp_path / "jdk"
    executable(java_home / "bin" / "java", "echo 'openjdk version \"25.0.1\"' >&2\n")
    return Settings.from_env(
        {
            "STACK_HOME": str(tmp_path / "home"),
            "JAVA_HOME": str(java_home),
            "KAFKA_PORT": "19092",
            "KAFKA_CONTROLLER_PORT": "19093",
            "CONNECT_PORT": "18083",
            "SCHEMA_REGISTRY_PORT": "18081",
            "SCHEMA_REGISTRY_MANAGEMENT_PORT": "18091",
            "POSTGRES_PORT": "15432",
            "POSTGRES_PASSWORD": "s3cret",
        }
    )


def properties(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_kafka_config_follows_the_ports(settings: Settings) -> None:
    kafka.write_config(settings)

    props = properties(kafka.server_properties(settings))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == props["listeners"]
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["log.dirs"] == str(settings.paths.data / "kafka" / "logs")
    assert props["process.roles"] == "broker,controller"
    assert kafka.server_properties(settings).read_text().startswith("# Written by `stack up`")
    assert jvm.log4j2_file(settings).read_text() == jvm.LOG4J2_PROPERTIES


def test_kafka_argv_runs_the_broker_on_the_shared_classpath(settings: Settings) -> None:
    argv = kafka.argv(settings)

    assert argv[0] == str(settings.java_home / "bin" / "java")  # type: ignore[operator]
    assert "-Xmx512m" in argv
    assert "-Dstack.component=kafka" in argv
    assert argv[argv.index("-cp") + 1] == f"{settings.paths.dist}/kafka-4.3.1/libs/*"
    assert argv[-2:] == ["kafka.Kafka", str(kafka.server_properties(settings))]
    assert f"-Dlog4j2.configurationFile={jvm.log4j2_file(settings)}" in argv


def test_kafka_storage_already_formatted_is_left_alone(settings: Settings) -> None:
    meta = kafka.data_dir(settings) / "logs" / "meta.properties"
    meta.parent.mkdir(parents=True)
    meta.write_text("cluster.id=abc\n")

    kafka.format_storage(settings)  # would run java otherwise; the fake java cannot format

    assert not (kafka.data_dir(settings) / "cluster-id").exists()


def test_kafka_formatting_failure_names_the_last_line(settings: Settings, tmp_path: Path) -> None:
    java_home = tmp_path / "broken-jdk"
    executable(
        java_home / "bin" / "java",
        """\
        case "$1" in -version) echo 'openjdk version "17.0.1"' >&2; exit 0;; esac
        echo 'Error: log.dirs is not writable' >&2; exit 1
        """,
    )
    broken = Settings.from_env({"STACK_HOME": str(settings.paths.home), "JAVA_HOME": str(java_home)})

    with pytest.raises(
        StackError, match=r"formatting Kafka storage failed: Error: log\.dirs is not writable"
    ):
        kafka.format_storage(broken)
    # the cluster id is kept, so the next attempt formats with the same id
    cluster_id = (kafka.data_dir(broken) / "cluster-id").read_text().strip()
    assert len(cluster_id) == 22
    with pytest.raises(StackError):
        kafka.format_storage(broken)
    assert (kafka.data_dir(broken) / "cluster-id").read_text().strip() == cluster_id


def test_connect_config_replication_depends_on_our_kafka_or_an_attached_one(settings: Settings) -> None:
    connect.write_config(settings)
    ours = properties(connect.worker_properties(settings))
    attached_settings = Settings.from_env(
        {"STACK_HOME": str(settings.paths.home), "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092"}
    )
    connect.write_config(attached_settings)
    attached = properties(connect.worker_properties(attached_settings))

    assert ours["bootstrap.servers"] == "127.0.0.1:19092"
    assert ours["config.storage.replication.factor"] == "1"
    assert ours["listeners"] == "http://127.0.0.1:18083"
    assert ours["rest.advertised.port"] == "18083"
    assert ours["plugin.path"] == str(settings.paths.dist / "connect-plugins")
    assert attached["bootstrap.servers"] == "k1:9092,k2:9092"
    assert {attached[f"{t}.storage.replication.factor"] for t in ("config", "offset", "status")} == {"-1"}


def test_connect_argv_runs_the_distributed_worker(settings: Settings) -> None:
    argv = connect.argv(settings)

    assert argv[-2:] == [connect.MAIN_CLASS, str(connect.worker_properties(settings))]
    assert "-Dstack.component=connect" in argv


def test_registry_runs_on_loopback_with_sql_storage_in_our_postgres(settings: Settings) -> None:
    argv = schema_registry.argv(settings)
    env = schema_registry.env(settings)

    assert "-Dquarkus.http.host=127.0.0.1" in argv
    assert "-Dquarkus.http.port=18081" in argv
    assert "-Dquarkus.management.port=18091" in argv
    assert argv[-2:] == ["-jar", str(jvm.apicurio_home(settings) / "quarkus-run.jar")]
    assert env["APICURIO_STORAGE_KIND"] == "sql"
    assert env["APICURIO_DATASOURCE_URL"] == "jdbc:postgresql://127.0.0.1:15432/registry"
    assert (env["APICURIO_DATASOURCE_USERNAME"], env["APICURIO_DATASOURCE_PASSWORD"]) == (
        "postgres",
        "s3cret",
    )
    assert env["APICURIO_DATASOURCE_JDBC_MAX_SIZE"] == "10"
    assert schema_registry.health_url(settings) == "http://127.0.0.1:18091/health/ready"


def test_the_registry_refuses_a_java_older_than_21(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stack import install

    java_home = tmp_path / "jdk17"
    executable(java_home / "bin" / "java", "echo 'openjdk version \"17.0.9\"' >&2\n")
    monkeypatch.setattr(install, "_bundled_java", lambda: None)
    old = Settings.from_env({"STACK_HOME": str(settings.paths.home), "JAVA_HOME": str(java_home)})

    with pytest.raises(StackError, match=r"Java 21\+ is required; found Java 17 at .*jdk17/bin/java"):
        schema_registry.argv(old)
    assert kafka.argv(old)[0] == str(java_home / "bin" / "java")  # 17 is enough for Kafka


def test_java_flags_bound_the_heap(settings: Settings) -> None:
    flags = jvm.java(settings, 64, "tiny")

    assert flags[1:3] == ["-Xms64m", "-Xmx64m"]
    assert "-XX:+ExitOnOutOfMemoryError" in flags
    assert jvm.java(settings, 1024, "big")[1] == "-Xms128m"


def test_write_properties_creates_parents_and_a_header(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "x.properties"

    jvm.write_properties(target, {"k": "v", "other.key": "1"}, "header text")

    assert target.read_text() == "# header text\nk=v\nother.key=1\n"


def test_postgres_runs_in_the_foreground_with_the_debezium_settings(settings: Settings) -> None:
    argv = postgres.argv(settings)

    assert argv[:3] == [str(settings.postgres_bin / "postgres"), "-D", str(postgres.data_dir(settings))]
    options = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-c")
    assert options["port"] == "15432"
    assert options["listen_addresses"] == "127.0.0.1"
    assert options["wal_level"] == "logical"
    assert options["max_slot_wal_keep_size"] == "2GB"
    assert options["unix_socket_directories"] == str(settings.paths.run / "postgres")


def test_postgres_stops_fast_with_pg_ctl(settings: Settings) -> None:
    assert postgres.stop_argv(settings) == [
        str(settings.postgres_bin / "pg_ctl"),
        "stop",
        "-D",
        str(postgres.data_dir(settings)),
        "-m",
        "fast",
        "-w",
        "-t",
        "30",
    ]


def test_postgres_as_root_needs_the_postgres_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StackError, match=r"needs an OS user 'no-such-user-here' .*useradd --system postgres"):
        postgres._check_os_user("no-such-user-here")
    postgres._check_os_user(None)  # not root: runs as ourselves
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 0)
    assert postgres.run_as() == "postgres"
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 1000)
    assert postgres.run_as() is None


def test_a_failing_initdb_names_its_last_line(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "pgbin"
    executable(bin_dir / "initdb", "echo 'initdb: error: invalid locale settings' >&2\nexit 1\n")
    monkeypatch.setattr(postgres, "run_as", lambda: None)
    broken = Settings.from_env({"STACK_HOME": str(settings.paths.home), "POSTGRES_BIN_DIR": str(bin_dir)})

    with pytest.raises(StackError, match=r"initdb failed in .*data/postgres: initdb: error: invalid locale"):
        postgres.init_cluster(broken)
    assert not (postgres.data_dir(broken) / "pg_hba.conf").exists()


def test_init_cluster_writes_pg_hba_and_skips_initdb_for_an_existing_cluster(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "run_as", lambda: None)
    directory = postgres.data_dir(settings)
    directory.mkdir(parents=True)
    (directory / "PG_VERSION").write_text("15\n")

    postgres.init_cluster(settings)  # POSTGRES_BIN_DIR has no initdb: it must not be run

    assert (directory / "pg_hba.conf").read_text() == postgres.HBA
    assert (settings.paths.run / "postgres").is_dir()


def test_the_initdb_password_file_never_outlives_initdb(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "pwfile-seen"
    bin_dir = tmp_path / "pgbin"
    executable(
        bin_dir / "initdb",
        f"""\
        for a in "$@"; do case "$a" in
          --pwfile=*) cat "${{a#--pwfile=}}" > {seen}; echo "${{a#--pwfile=}}" >> {seen};;
        esac; done
        touch "$2/PG_VERSION"
        """,
    )
    monkeypatch.setattr(postgres, "run_as", lambda: None)
    fresh = Settings.from_env(
        {"STACK_HOME": str(settings.paths.home), "POSTGRES_BIN_DIR": str(bin_dir), "POSTGRES_PASSWORD": "pw1"}
    )

    postgres.init_cluster(fresh)

    password, pwfile = seen.read_text().splitlines()
    assert password == "pw1"
    assert not Path(pwfile).exists()
    assert (postgres.data_dir(fresh) / "PG_VERSION").is_file()


def test_ensure_databases_against_nothing_listening_is_a_clear_error() -> None:
    target = Settings.from_env({"POSTGRES_PORT": str(free_port())}).postgres

    with pytest.raises(StackError) as raised:
        postgres.ensure_databases(target, ["orders", "registry"])

    message = str(raised.value)
    assert message.startswith(
        f"cannot create the databases orders, registry on 127.0.0.1:{target.port} as postgres: "
    )
    assert "\n" not in message


# --- the services -----------------------------------------------------------------------------

LOYALTY = Service("loyalty", "loyalty", 8004, "loyalty.tiers", 9104, connectors=True)


def test_service_env_names_its_database_settings_and_port() -> None:
    env = service_env(Settings.from_env({"STACK_HOME": "/x", "ORDERS_PORT": "18002"}), services.SERVICES[1])

    assert env["DATABASE_URL"] == "postgresql://postgres:postgres@127.0.0.1:5432/orders"
    assert env["DJANGO_SETTINGS_MODULE"] == "orders_site.settings"
    assert env["PORT"] == "18002"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"


def test_a_discovered_service_becomes_web_consumer_and_supervisor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(services, "SERVICES", (LOYALTY,))
    # what stack.settings registers for a discovered service at import time
    monkeypatch.setattr(
        executor,
        "PORTS",
        {
            **PORTS,
            "loyalty": PortSpec("LOYALTY_PORT", 8004),
            "loyalty-consumer": PortSpec("LOYALTY_CONSUMER_METRICS_PORT", 9104),
        },
    )
    base = Settings.from_env({"STACK_HOME": str(tmp_path)})
    s = dataclasses.replace(base, ports={**base.ports, "loyalty": 8004, "loyalty-consumer": 9104})

    web, consumer, supervisor = services.components(s)

    assert [c.name for c in (web, consumer, supervisor)] == [
        "loyalty",
        "loyalty-consumer",
        "loyalty-supervisor",
    ]
    assert isinstance(web, ProcessComponent)
    assert isinstance(consumer, ProcessComponent)
    assert isinstance(supervisor, ProcessComponent)
    assert web.endpoint == "http://127.0.0.1:8004"
    assert web.cwd == LOYALTY.directory
    assert [(b.port, b.env_var) for b in web.ports] == [(8004, "LOYALTY_PORT")]
    assert consumer.argv == [
        *consumer.argv[:3],
        "eventing_consume",
        "--group",
        "loyalty.tiers",
        "--metrics-port",
        "9104",
    ]
    assert "PORT" not in consumer.env and "PORT" not in supervisor.env
    assert consumer.endpoint == "consumer group loyalty.tiers, metrics http://127.0.0.1:9104/metrics"
    assert len(web.after_ready) == 1  # it owns connectors: `eventing_connectors apply`


def test_production_skips_the_development_superuser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ran: list[tuple[str, ...]] = []
    monkeypatch.setattr(
        services, "_manage", lambda s, service, *args, **kw: ran.append(args) or (lambda: None)
    )
    s = Settings.from_env({"STACK_HOME": str(tmp_path)})

    monkeypatch.setenv("DJANGO_ENV", "development")
    services._web(s, services.SERVICES[0])
    development = list(ran)
    ran.clear()
    monkeypatch.setenv("DJANGO_ENV", " Production ")
    services._web(s, services.SERVICES[0])

    assert ("ensure_dev_superuser",) in development
    assert ("ensure_dev_superuser",) not in ran
    assert ("migrate", "--no-input") in ran
    assert ("eventing_schemas", "register") in ran


def test_a_failing_manage_command_stops_up_with_its_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Result:
        returncode = 1
        stdout = ""
        stderr = "\n".join(f"line {i}" for i in range(1, 31))

    monkeypatch.setattr(services.subprocess, "run", lambda *a, **kw: Result())
    hook = services._manage(Settings.from_env({"STACK_HOME": str(tmp_path)}), services.SERVICES[1], "migrate")

    with pytest.raises(StackError) as raised:
        hook()

    message = str(raised.value)
    assert message.startswith("orders: `manage.py migrate` failed:\n  line 16\n")
    assert message.endswith("line 30")
    assert "line 15\n" not in message


def test_the_status_row_probe_needs_a_pid_file(tmp_path: Path) -> None:
    probe = StatusRowProbe(
        "postgresql://x@127.0.0.1:1/x", "eventing_consumer_status", "consumer g", tmp_path / "none.pid"
    )

    with pytest.raises(NotReady, match="no pid file"):
        probe()


def test_the_status_row_probe_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    pid_file = tmp_path / "c.pid"
    pid_file.write_text("4242 123\n")
    url = f"postgresql://postgres:pw@127.0.0.1:{free_port()}/orders"
    probe = StatusRowProbe(url, "eventing_consumer_status", "consumer g", pid_file, group="g")

    with pytest.raises(NotReady) as raised:
        probe()

    assert "\n" not in str(raised.value)
