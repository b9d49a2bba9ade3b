"""Connector definitions built from settings, for ``EVENTING['CONNECTORS']``."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections

from eventing.conf import eventing_settings
from eventing.connect.converters import avro_converter
from eventing.connect.debezium import Connector, DatabaseEndpoint, outbox_connector, table_capture_connector
from eventing.exceptions import ConfigurationError


def database_endpoint(using: str = DEFAULT_DB_ALIAS) -> DatabaseEndpoint:
    """The Django database as the Connect worker reaches it (``CONNECT_DATABASE_*``)."""
    return DatabaseEndpoint.from_django(
        connections[using].settings_dict,
        host=eventing_settings.CONNECT_DATABASE_HOST,
        port=eventing_settings.CONNECT_DATABASE_PORT,
    )


def outbox() -> Connector:
    """The outbox connector of this service's default database, named ``<source>-outbox``."""
    source = str(eventing_settings.SOURCE or "").strip("/")
    if not source:
        raise ConfigurationError("EVENTING['SOURCE'] is required to name the outbox connector")
    return outbox_connector(
        f"{source.replace('/', '-')}-outbox",
        database_endpoint(),
        retention=float(eventing_settings.OUTBOX_RETENTION),
    )


def table_capture(name: str, *, tables: list[str], topic: str) -> Connector:
    """A table capture of this service's default database, with the configured Avro converter.

    ``EVENTING['CONNECT_AVRO_CONVERTER']`` picks the converter and
    ``EVENTING['CONNECT_REGISTRY_URL']`` the registry the worker reaches (None: derived from
    ``SCHEMA_REGISTRY_URL``; see ``eventing.connect.converters``).
    """
    converter = avro_converter(eventing_settings.CONNECT_AVRO_CONVERTER)
    registry_url = eventing_settings.CONNECT_REGISTRY_URL or converter.default_registry_url(
        str(eventing_settings.SCHEMA_REGISTRY_URL)
    )
    return table_capture_connector(
        name, database_endpoint(), tables=tables, topic=topic, registry_url=registry_url, converter=converter
    )
