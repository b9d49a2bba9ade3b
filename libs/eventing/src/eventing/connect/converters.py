"""The Avro converter Kafka Connect writes table captures with: Apicurio's or Confluent's.

One setting chooses it, ``EVENTING['CONNECT_AVRO_CONVERTER']``: ``"apicurio"`` (the default:
Apicurio Registry's ``AvroConverter``, talking to its v2 API) or ``"confluent"`` (Confluent's
``io.confluent.connect.avro.AvroConverter``, talking to a Confluent Schema Registry). Both write
the Confluent wire format (magic byte, 4-byte schema id, Avro body) with ids the Confluent
API resolves, which is what the consumers read through ``SCHEMA_REGISTRY_URL``; the outbox
connector passes payloads through and needs no converter. ``EVENTING['CONNECT_REGISTRY_URL']``
is the registry as the Connect worker reaches it (None: derived from ``SCHEMA_REGISTRY_URL``).

A strategy gives the converter's connector settings, the registry URL to use by default, and
the URL the doctor probes to check that the worker's registry answers (``eventing.cdc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eventing.exceptions import ConfigurationError

CCOMPAT_SUFFIX = "/apis/ccompat/v7"
APICURIO_V2_SUFFIX = "/apis/registry/v2"


class AvroConverterStrategy(Protocol):
    """How a table capture connector serializes its values with Avro."""

    @property
    def name(self) -> str:
        """The value of ``EVENTING['CONNECT_AVRO_CONVERTER']`` that selects it."""
        ...

    def default_registry_url(self, schema_registry_url: str) -> str:
        """The worker's registry URL derived from the consumers' Confluent-API URL."""
        ...

    def value_converter(self, registry_url: str) -> dict[str, str]:
        """The ``value.converter*`` settings of a connector."""
        ...

    def registry_url_of(self, config: dict[str, str]) -> str | None:
        """The registry URL in a connector's config written by this strategy, else None."""
        ...

    def probe_path(self) -> str:
        """A GET path under the registry URL that answers 200 when the registry is up."""
        ...


@dataclass(frozen=True)
class ApicurioAvroConverter:
    """Apicurio Registry's converter (``io.apicurio.registry.utils.converter.AvroConverter``)."""

    name: str = "apicurio"
    class_name: str = "io.apicurio.registry.utils.converter.AvroConverter"

    def default_registry_url(self, schema_registry_url: str) -> str:
        return schema_registry_url.rstrip("/").removesuffix(CCOMPAT_SUFFIX) + APICURIO_V2_SUFFIX

    def value_converter(self, registry_url: str) -> dict[str, str]:
        return {
            "value.converter": self.class_name,
            "value.converter.apicurio.registry.url": registry_url,
            "value.converter.apicurio.registry.auto-register": "true",
            "value.converter.apicurio.registry.find-latest": "true",
            "value.converter.apicurio.registry.as-confluent": "true",
            # Content ids, as the Confluent API serves them; global ids drift from content
            # ids as soon as one schema is registered under two subjects.
            "value.converter.apicurio.registry.use-id": "contentId",
            "value.converter.apicurio.registry.headers.enabled": "false",
        }

    def registry_url_of(self, config: dict[str, str]) -> str | None:
        if config.get("value.converter") != self.class_name:
            return None
        return config.get("value.converter.apicurio.registry.url", "")

    def probe_path(self) -> str:
        return "/system/info"


@dataclass(frozen=True)
class ConfluentAvroConverter:
    """Confluent's converter (``io.confluent.connect.avro.AvroConverter``), Schema Registry API.

    Its plugin comes from Confluent's own Maven repository (not Maven Central), so the local
    stack does not install it; a Connect image that has it (Confluent Platform, or a Strimzi
    build with the plugin added) runs table captures with this strategy.
    """

    name: str = "confluent"
    class_name: str = "io.confluent.connect.avro.AvroConverter"

    def default_registry_url(self, schema_registry_url: str) -> str:
        return schema_registry_url.rstrip("/")

    def value_converter(self, registry_url: str) -> dict[str, str]:
        return {
            "value.converter": self.class_name,
            "value.converter.schema.registry.url": registry_url,
            "value.converter.auto.register.schemas": "true",
            # Debezium derives the schema from the table: register what it sees.
            "value.converter.use.latest.version": "false",
        }

    def registry_url_of(self, config: dict[str, str]) -> str | None:
        if config.get("value.converter") != self.class_name:
            return None
        return config.get("value.converter.schema.registry.url", "")

    def probe_path(self) -> str:
        return "/subjects"


STRATEGIES: dict[str, AvroConverterStrategy] = {
    "apicurio": ApicurioAvroConverter(),
    "confluent": ConfluentAvroConverter(),
}


def avro_converter(name: str) -> AvroConverterStrategy:
    """The strategy called ``name`` (``EVENTING['CONNECT_AVRO_CONVERTER']``)."""
    try:
        return STRATEGIES[str(name).lower()]
    except KeyError:
        raise ConfigurationError(
            f"EVENTING['CONNECT_AVRO_CONVERTER'] must be one of {', '.join(sorted(STRATEGIES))}, got {name!r}"
        ) from None


def strategy_of(config: dict[str, str]) -> AvroConverterStrategy | None:
    """The strategy that wrote a connector's value converter settings, if any."""
    for strategy in STRATEGIES.values():
        if strategy.registry_url_of(config) is not None:
            return strategy
    return None
