"""Install and run the local stack (PostgreSQL, Kafka, Apicurio Registry, Kafka Connect with
Debezium) as plain processes on 127.0.0.1, without Docker.

Entry points: the ``stack`` CLI (:mod:`stack.__main__`) and the Python API in :mod:`stack.api`
(``up``, ``down``, ``status``, ``stopped``...). Components are declared in :mod:`stack.topology`.
"""
