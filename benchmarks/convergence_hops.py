"""Where an order's convergence time goes, per hop, for the orders of the last few minutes.

Run right after ``bench_convergence.py`` (its orders are the recent ones):

    uv run python benchmarks/convergence_hops.py [minutes, default 2]

Hops, from timestamps each stage leaves behind: the order row's ``date_placed`` (``now()`` of
its insert) -> the CDC record's Kafka timestamp (Debezium's orders-cdc) -> the translator's
outbox row ``created_at`` -> the public record's Kafka timestamp (orders-outbox) -> the
points row's ``updated_at`` (``now()`` of the consumer's transaction). Clocks are one
machine's; the read model hop is measured to the transaction's start.
"""

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from confluent_kafka import Consumer, TopicPartition

minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 2
pg = "postgresql://postgres:postgres@127.0.0.1:5432/"
since = datetime.now(UTC) - timedelta(minutes=minutes)
with psycopg.connect(pg + "orders") as c:
    inserted = {
        str(i): d.timestamp()
        for i, d in c.execute("SELECT id, date_placed FROM orders_order WHERE date_placed > %s", [since])
    }
    outbox = {
        k: d.timestamp()
        for k, d in c.execute(
            "SELECT key, created_at FROM eventing_outbox WHERE created_at > %s AND type = 'order_created'",
            [since],
        )
    }
with psycopg.connect(pg + "points") as c:
    applied = {
        str(i): d.timestamp()
        for i, d in c.execute("SELECT order_id, updated_at FROM points_order WHERE updated_at > %s", [since])
    }


def topic_times(topic, keyf):
    c = Consumer(
        {
            "bootstrap.servers": "127.0.0.1:9092",
            "group.id": f"hops-diag-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    md = c.list_topics(topic, timeout=10).topics[topic]
    tps = [TopicPartition(topic, p, int(since.timestamp() * 1000)) for p in md.partitions]
    tps = c.offsets_for_times(tps, timeout=10)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions}
    c.assign(tps)
    out = {}
    left = {tp.partition for tp in tps if tp.offset >= 0 and tp.offset < ends[tp.partition]}
    while left:
        m = c.poll(2)
        if m is None:
            break
        if m.error():
            continue
        out[keyf(m.key())] = m.timestamp()[1] / 1000
        if m.offset() + 1 >= ends[m.partition()]:
            left.discard(m.partition())
    c.close()
    return out


cdc = topic_times("private_orders_order_cdc", lambda k: json.loads(k)["id"])
public = topic_times("public_order_entity_events", lambda k: k.decode())
hops = {
    "insert->cdc topic": [],
    "cdc topic->translator outbox row": [],
    "outbox row->public topic": [],
    "public topic->read model": [],
    "total": [],
}
for oid, t0 in inserted.items():
    if not all(oid in d for d in (cdc, outbox, public, applied)):
        continue
    hops["insert->cdc topic"].append(cdc[oid] - t0)
    hops["cdc topic->translator outbox row"].append(outbox[oid] - cdc[oid])
    hops["outbox row->public topic"].append(public[oid] - outbox[oid])
    hops["public topic->read model"].append(applied[oid] - public[oid])
    hops["total"].append(applied[oid] - t0)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] * 1000


print(f"{len(hops['total'])} orders")
for name, v in hops.items():
    if v:
        print(
            f"{name:36} p50 {pct(v, 0.5):7.1f} ms  p95 {pct(v, 0.95):7.1f}"
            f"  p99 {pct(v, 0.99):7.1f}  max {max(v) * 1000:7.1f}"
        )
