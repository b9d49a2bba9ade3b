"""Apicurio Registry 3.3 with its storage in our Postgres (database ``registry``).

The default in-memory storage would hand out new ids after each restart, and old messages
would then decode with the wrong schema; SQL storage keeps ids stable. Both the HTTP API and
Quarkus's management interface (health, metrics) are bound to loopback.
"""

from __future__ import annotations

from stack.jvm import apicurio_home, java
from stack.settings import LOOPBACK, REGISTRY_DATABASE, Settings

HEAP_MB = 384
MIN_JAVA = 21
"""Apicurio 3.3.3 is compiled for Java 21 (class file version 65)."""
POOL = {"INITIAL_SIZE": "2", "MIN_SIZE": "2", "MAX_SIZE": "10"}
"""JDBC pool sizes (Apicurio defaults to 20/20/100 connections)."""


def argv(settings: Settings) -> list[str]:
    """The registry's command line (run from its install directory)."""
    return [
        *java(settings, HEAP_MB, "registry", MIN_JAVA),
        f"-Dquarkus.http.host={LOOPBACK}",
        f"-Dquarkus.http.port={settings.ports['registry']}",
        f"-Dquarkus.management.host={LOOPBACK}",
        f"-Dquarkus.management.port={settings.ports['registry-management']}",
        "-jar",
        str(apicurio_home(settings) / "quarkus-run.jar"),
    ]


def env(settings: Settings) -> dict[str, str]:
    """Environment selecting PostgreSQL storage.

    The names map to ``apicurio.storage.*`` and ``apicurio.datasource.*`` in Apicurio 3.3.3's
    ``application.properties``.
    """
    target = settings.postgres
    return {
        "APICURIO_STORAGE_KIND": "sql",
        "APICURIO_STORAGE_SQL_KIND": "postgresql",
        "APICURIO_DATASOURCE_URL": target.jdbc_url(REGISTRY_DATABASE),
        "APICURIO_DATASOURCE_USERNAME": target.user,
        "APICURIO_DATASOURCE_PASSWORD": target.password,
        **{f"APICURIO_DATASOURCE_JDBC_{key}": value for key, value in POOL.items()},
    }


def health_url(settings: Settings) -> str:
    """Quarkus's readiness endpoint on the management interface."""
    return f"http://{LOOPBACK}:{settings.ports['registry-management']}/health/ready"
