"""Consuming: handler registry, the batch processor (DB side) and the Kafka runner."""
