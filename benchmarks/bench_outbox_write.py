"""The write path: creating a customer with its outbox event vs the same create without it.

Measured at two levels, each create in its own transaction:

* request: ``POST /api/customers/`` through the service's whole Django/DRF stack
  in-process (middleware, basic auth with a cheap test hasher, validation, JSON): what a
  client sees, minus the network;
* service: the ``customer_create`` call alone (validation, insert, commit): the worst
  case, where database round trips dominate.

Variants, interleaved in rounds so that drift (autovacuum, caches) hits all alike:

* no-outbox: publishing switched off (the naive baseline: no event at all);
* outbox: the default, outbox row inserted and kept (for ``OUTBOX_RETENTION``, so a lost
  replication slot can be recovered; the outbox connector's heartbeat purges older rows);
* outbox-delete: outbox row inserted and deleted in the same transaction
  (``OUTBOX_DELETE_AFTER_INSERT=True``, one round trip for both statements).

Prints per-create latency (mean, p50, p99), creates/s and each variant's overhead, then where
the cost of ``publish()`` goes: the Avro encoding alone, the outbox INSERT alone (parameters
prepared beforehand), the whole ``publish()``, and an empty round trip (``SELECT 1``) to the
database, the floor of any write that happens in the caller's transaction.
Needs PostgreSQL and the schema registry (`make up`).

    uv run python benchmarks/bench_outbox_write.py --creates 3000
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from common import drop_database, setup_django, write_result

ESTABLISHED = datetime(1980, 2, 23, tzinfo=UTC)
BODY = {"first_name": "Bart", "last_name": "Simpson", "date_established": "1980-02-23T00:00:00Z"}


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    from django.conf import settings
    from django.test import override_settings

    from customers import events

    if name == "no-outbox":
        real = events.publish_customer_event
        events.publish_customer_event = lambda event_type, data: None
        try:
            yield
        finally:
            events.publish_customer_event = real
    elif name == "outbox-delete":
        with override_settings(EVENTING={**settings.EVENTING, "OUTBOX_DELETE_AFTER_INSERT": True}):
            yield
    else:
        yield


def service_create() -> None:
    from customers.services import customer_create

    customer_create(first_name="Bart", last_name="Simpson", date_established=ESTABLISHED)


def request_create_factory() -> Callable[[], None]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user_model = get_user_model()
    if not user_model.objects.filter(username="bench").exists():
        user_model.objects.create_user("bench", password="bench")
    client = APIClient(HTTP_ACCEPT="application/json", SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"bench:bench").decode())

    def request_create() -> None:
        response = client.post("/api/customers/", BODY, format="json")
        assert response.status_code == 201, response.status_code

    return request_create


def measure(fn: Callable[[], None], count: int) -> list[float]:
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return timings


def summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 3),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 3),
        "per_s": round(len(ordered) / sum(ordered), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--creates", type=int, default=3000, help="creates per variant and level")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_DEBUG", "0")  # DEBUG records every query: not what runs in production
    setup_django("customers_site.settings", "customer_bench")
    try:
        measure_and_report(args)
    finally:
        drop_database("customer_bench")


def measure_and_report(args: argparse.Namespace) -> None:
    import eventing

    eventing.startup()
    levels = {"request": request_create_factory(), "service": service_create}
    names = ["no-outbox", "outbox", "outbox-delete"]
    per_round = max(1, args.creates // args.rounds)
    results: dict[str, Any] = {"creates_per_variant": per_round * args.rounds}
    for level, fn in levels.items():
        timings: dict[str, list[float]] = {name: [] for name in names}
        for name in names:  # warm-up
            with variant(name):
                measure(fn, 50)
        for _ in range(args.rounds):
            for name in names:
                with variant(name):
                    timings[name].extend(measure(fn, per_round))
        print(f"\n{level} level")
        print(f"{'variant':<12} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'creates/s':>10} {'overhead':>9}")
        base = statistics.fmean(timings["no-outbox"])
        for name in names:
            figures = summary(timings[name])
            figures["overhead_pct"] = round((statistics.fmean(timings[name]) - base) / base * 100, 1)
            results[f"{level}:{name}"] = figures
            print(
                f"{name:<12} {figures['mean_ms']:>8.3f} {figures['p50_ms']:>8.3f} {figures['p99_ms']:>8.3f}"
                f" {figures['per_s']:>10.0f} {figures['overhead_pct']:>8.1f}%"
            )
    results["publish_breakdown"] = measure_breakdown(args.creates)
    print(f"\nresult: {write_result('outbox_write', results)}")


def measure_breakdown(count: int) -> dict[str, float]:
    """Microseconds per call of each part of ``publish()``, interleaved, inside a transaction."""
    import uuid

    from django.db import connection, transaction

    from customers.events import CUSTOMER_ENTITY_STATE, customer_state_payload
    from customers.models import Customer
    from eventing import publish
    from eventing.outbox.publish import _INSERT
    from eventing.runtime import runtime
    from eventing.serialization.avro import AvroCodec

    resolved = runtime.resolved(CUSTOMER_ENTITY_STATE)
    customer = Customer(first_name="Bart", last_name="Simpson", date_established=ESTABLISHED, version=1)
    data = customer_state_payload(customer, version=1)
    payload = AvroCodec.encode(resolved.schema_id, resolved.parsed, data)

    def encode() -> None:
        AvroCodec.encode(resolved.schema_id, resolved.parsed, data)

    def insert() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT,
                [uuid.uuid4(), "t", "k", "x", "s", "1.0", "2026-01-01T00:00:00Z", "a", "d", "tp", payload],
            )

    def whole() -> None:
        publish(CUSTOMER_ENTITY_STATE, data)

    def round_trip() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    parts = {"avro encode": encode, "outbox INSERT": insert, "publish()": whole, "SELECT 1": round_trip}
    timings: dict[str, list[float]] = {name: [] for name in parts}
    rounds = 10
    for _ in range(rounds):
        with transaction.atomic():
            for name, fn in parts.items():
                timings[name].extend(measure(fn, max(1, count // rounds)))
            transaction.set_rollback(True)  # leave no row behind
    print("\nwhere publish() goes (inside one transaction, microseconds per call)")
    print(f"{'part':<14} {'mean us':>8} {'p50 us':>8} {'p99 us':>8}")
    figures = {}
    for name, values in timings.items():
        summary_ms = summary(values)
        figures[name] = round(statistics.fmean(values) * 1e6, 1)
        print(
            f"{name:<14} {figures[name]:>8.1f} {summary_ms['p50_ms'] * 1000:>8.1f}"
            f" {summary_ms['p99_ms'] * 1000:>8.1f}"
        )
    return figures


if __name__ == "__main__":
    main()
