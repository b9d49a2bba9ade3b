"""Consumer throughput with an exactly-once effect: our consumer vs a naive one, same data.

Produces N ``order_created`` CloudEvents (Avro, registered schema) to a fresh topic, then
lets two consumers apply them to the points read model (a fresh database each time):

* naive: what the seed's consumer does: one message per poll, one transaction per message
  (inbox row + upsert, so it is exactly-once too), one synchronous offset commit per message;
* eventing: ``ConsumerRunner`` with the points service's real batch handler: many messages
  per poll, one transaction per batch, inbox claimed in one statement, async commits;
* eventing (per-event handler): the same runner with a handler applying one event per call
  (one upsert each), still one transaction per batch.

Prints events/s of each and the ratio. Needs the stack (`make up`).

    uv run python benchmarks/bench_consumer_throughput.py --events 20000
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from common import drop_database, remove_topics_and_subjects, setup_django, write_result


def produce(topic: str, count: int, customers: int) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from eventing.conf import eventing_settings
    from eventing.schemas import register
    from points.events import ORDER_CREATED

    admin = AdminClient(eventing_settings.kafka_config())
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(30)
    (resolved,) = register([ORDER_CREATED])
    from eventing.serialization.avro import AvroCodec

    producer = Producer(eventing_settings.kafka_config(**{"linger.ms": 20, "batch.num.messages": 10000}))
    customer_ids = [uuid.uuid4() for _ in range(customers)]
    for i in range(count):
        order_id = uuid.uuid4()
        data = {
            "id": order_id,
            "customer_id": customer_ids[i % customers],
            "date_placed": datetime.now(UTC),
            "item_count": 1 + i % 7,
            "version": i + 1,
        }
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", str(uuid.uuid4()).encode()),
            ("ce_source", b"/orders"),
            ("ce_type", b"order_created"),
            ("content-type", b"application/avro"),
        ]
        value = AvroCodec.encode(resolved.schema_id, resolved.parsed, data)
        while True:
            try:
                producer.produce(topic, key=str(order_id).encode(), value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)


def reset_read_model() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE points_order, points_customer, eventing_inbox")


def applied_count() -> int:
    from points.models import OrderReadModel

    return OrderReadModel.objects.count()


def run_naive(topic: str, count: int) -> float:
    """One message, one transaction, one synchronous commit at a time (the seed's loop)."""
    from confluent_kafka import Consumer
    from django.db import transaction

    from eventing.conf import eventing_settings
    from eventing.inbox.models import InboxEntry
    from eventing.runtime import get_codec, runtime
    from points.events import ORDER_CREATED
    from points.services import order_state_apply

    consumer = Consumer(
        eventing_settings.kafka_config(
            **{
                "group.id": f"bench-naive-{topic}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
    )
    consumer.subscribe([topic])
    codec, reader = get_codec(), runtime.reader_schema(ORDER_CREATED)
    done, started = 0, None
    while done < count:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        started = started or time.perf_counter()
        headers = dict(message.headers())
        data = codec.decode(message.value(), reader)
        with transaction.atomic():
            _, created = InboxEntry.objects.get_or_create(
                consumer_group="bench-naive",
                event_id=headers["ce_id"].decode(),
                defaults={
                    "topic": topic,
                    "partition": message.partition(),
                    "offset": message.offset(),
                },
            )
            if created:
                order_state_apply(
                    order_id=data["id"],
                    customer_id=data["customer_id"],
                    item_count=data["item_count"],
                    version=data["version"],
                )
        consumer.commit(message, asynchronous=False)
        done += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return elapsed


def per_event_handler(event: Any) -> None:
    from points.services import order_state_apply

    data = event.data
    order_state_apply(
        order_id=data["id"],
        customer_id=data["customer_id"],
        item_count=data["item_count"],
        version=data["version"],
    )


def run_eventing(topic: str, count: int, batch_size: int, *, batch_handler: bool = True) -> float:
    from dataclasses import replace

    from eventing.consumer.kafka import build_runner, runner_config
    from eventing.consumer.registry import HandlerRegistry
    from eventing.events import EventType
    from points import handlers
    from points.events import ORDER_CREATED

    registry = HandlerRegistry()
    bench_type = EventType(ORDER_CREATED.type, topic, ORDER_CREATED.schema, owned=False)
    if batch_handler:
        registry.handler(bench_type, batch=True)(handlers.on_order_created)
    else:
        registry.handler(bench_type)(per_event_handler)
    config = replace(runner_config(), batch_size=batch_size, inbox_purge_interval=0)
    runner = build_runner(f"bench-eventing-{topic}-{uuid.uuid4().hex[:8]}", registry, config=config)
    runner.subscribe()
    started = None
    while runner.counters.applied < count:
        runner.run_once()
        if started is None and runner.counters.applied:
            # Start the clock at the first applied batch (after the group join), as for naive.
            started = time.perf_counter()
    elapsed = time.perf_counter() - (started or time.perf_counter())
    runner.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20000, help="events to produce and consume")
    parser.add_argument(
        "--naive-events",
        type=int,
        default=3000,
        help="events for the naive consumer (it is slow; rates compare)",
    )
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    setup_django("points_site.settings", "points_bench")
    topic = f"bench_orders_{uuid.uuid4().hex[:8]}"
    try:
        measure_and_report(args, topic)
    finally:
        remove_topics_and_subjects(topic)
        drop_database("points_bench")


def measure_and_report(args: argparse.Namespace, topic: str) -> None:
    print(f"producing {args.events} order events to {topic} ...", flush=True)
    produce(topic, args.events, args.customers)

    naive_events = min(args.naive_events, args.events)
    results: dict[str, Any] = {"events": args.events, "batch_size": args.batch_size, "topic": topic}
    reset_read_model()
    naive = run_naive(topic, naive_events)
    assert applied_count() == naive_events, "naive consumer lost or duplicated effects"
    results["naive_events_per_s"] = round(naive_events / naive, 1)

    reset_read_model()
    ours = run_eventing(topic, args.events, args.batch_size)
    assert applied_count() == args.events, "eventing consumer lost or duplicated effects"
    results["eventing_events_per_s"] = round(args.events / ours, 1)
    results["ratio"] = round(results["eventing_events_per_s"] / results["naive_events_per_s"], 1)

    reset_read_model()
    per_event = run_eventing(topic, args.events, args.batch_size, batch_handler=False)
    assert applied_count() == args.events, "eventing consumer lost or duplicated effects"
    results["eventing_per_event_handler_events_per_s"] = round(args.events / per_event, 1)

    rows = [
        ("naive (seed-like)", naive_events, naive),
        ("eventing", args.events, ours),
        ("eventing, per-event handler", args.events, per_event),
    ]
    print(f"{'consumer':<28} {'events':>8} {'seconds':>9} {'events/s':>10} {'vs naive':>9}")
    for name, n, seconds in rows:
        rate = n / seconds
        print(
            f"{name:<28} {n:>8} {seconds:>9.2f} {rate:>10.0f} {rate / results['naive_events_per_s']:>8.1f}x"
        )
    print(f"result: {write_result('consumer_throughput', results)}")


if __name__ == "__main__":
    main()
