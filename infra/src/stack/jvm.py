"""Command lines for the three Java servers (Kafka broker, Connect worker, Apicurio)."""

from __future__ import annotations

from pathlib import Path

from stack.install import MIN_JAVA, java_executable
from stack.settings import Settings

KAFKA_VERSION = "4.3.1"
"""Must match infra/maven/kafka/pom.xml (it names the install directory)."""
APICURIO_VERSION = "3.3.3"
"""Must match infra/maven/apicurio-registry/pom.xml."""

LOG4J2_PROPERTIES = """\
# Written by `stack up`: Kafka broker and Connect worker log to stdout, which the stack appends
# to $STACK_HOME/logs/<component>.log.
status = warn
name = stack
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


def kafka_libs(settings: Settings) -> Path:
    """The jars of the broker and the Connect worker (one classpath serves both)."""
    return settings.paths.dist / f"kafka-{KAFKA_VERSION}" / "libs"


def connect_plugins(settings: Settings) -> Path:
    """Connect's ``plugin.path``: one subdirectory per plugin."""
    return settings.paths.dist / "connect-plugins"


def apicurio_home(settings: Settings) -> Path:
    """The unpacked Apicurio Registry (``quarkus-run.jar`` + ``lib/``)."""
    return settings.paths.dist / f"apicurio-registry-{APICURIO_VERSION}"


def log4j2_file(settings: Settings) -> Path:
    """The log4j2 configuration shared by the broker and the Connect worker."""
    return settings.paths.conf / "log4j2.properties"


def write_log4j2(settings: Settings) -> None:
    """Write :data:`LOG4J2_PROPERTIES` into ``conf/``."""
    path = log4j2_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LOG4J2_PROPERTIES)


def java(settings: Settings, heap_mb: int, name: str, minimum: int = MIN_JAVA) -> list[str]:
    """``java`` (checked: at least version ``minimum``) with a bounded heap and the flags every
    server here shares. ``-Dstack.component`` names the process in ``ps`` output.
    """
    return [
        java_executable(settings.java_home, minimum),
        f"-Xms{min(heap_mb, 128)}m",
        f"-Xmx{heap_mb}m",
        "-XX:+ExitOnOutOfMemoryError",
        # An idle JVM runs a GC every 30 s and hands unused heap back to the OS, so an idle
        # stack does not keep every heap at its maximum.
        "-XX:G1PeriodicGCInterval=30000",
        "-XX:MaxHeapFreeRatio=30",
        "-XX:MinHeapFreeRatio=10",
        "-Djava.awt.headless=true",
        "-Djava.net.preferIPv4Stack=true",
        f"-Dstack.component={name}",
    ]


def kafka_java(settings: Settings, heap_mb: int, name: str, main: str, *args: str) -> list[str]:
    """A Kafka main class on the shared classpath, logging through ``conf/log4j2.properties``."""
    return [
        *java(settings, heap_mb, name),
        f"-Dlog4j2.configurationFile={log4j2_file(settings)}",
        "-cp",
        f"{kafka_libs(settings)}/*",
        main,
        *args,
    ]


def write_properties(path: Path, properties: dict[str, str], header: str) -> None:
    """Write a Java ``.properties`` file (values here never need escaping)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {header}", *(f"{key}={value}" for key, value in properties.items())]
    path.write_text("\n".join(lines) + "\n")
