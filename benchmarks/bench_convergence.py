"""End-to-end convergence: from an order's HTTP response to the award including it.

The path measured: orders_order row -> WAL -> Debezium (table capture) -> private CDC topic
-> translator (inbox + outbox in one transaction) -> WAL -> Debezium (outbox EventRouter)
-> public topic -> points consumer (inbox + read model). It is timed by polling the points
read model directly (every 5 ms), so the award API's password hashing does not blur it.

For comparison in the same run, the "sleep 2" of the seed's demo is the naive baseline: a
client that waits a fixed 2 s is either too slow (p50 below) or wrong (above p100).

    uv run python benchmarks/bench_convergence.py --orders 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import httpx
import psycopg
from common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args()
    auth = (
        os.environ.get("DEV_SUPERUSER_USERNAME", "root"),
        os.environ.get("DEV_SUPERUSER_PASSWORD", "P@ssw0rd1"),
    )
    base = os.environ.get("POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432")
    customers = httpx.Client(
        base_url=f"http://127.0.0.1:{os.environ.get('CUSTOMERS_PORT', '8001')}", auth=auth
    )
    orders = httpx.Client(base_url=f"http://127.0.0.1:{os.environ.get('ORDERS_PORT', '8002')}", auth=auth)
    customer = customers.post(
        "/api/customers/",
        json={
            "first_name": "Conv",
            "last_name": "Ergence",
            "date_established": "2000-01-01T00:00:00Z",
        },
    ).json()
    latencies: list[float] = []
    with psycopg.connect(f"{base}/points", autocommit=True) as db:
        for _ in range(args.orders):
            response = orders.post("/api/orders/", json={"customer_id": customer["id"], "item_count": 1})
            created = time.perf_counter()
            order_id = response.json()["id"]
            deadline = created + 30
            while not db.execute("SELECT 1 FROM points_order WHERE order_id = %s", [order_id]).fetchone():
                if time.perf_counter() > deadline:
                    raise SystemExit(f"order {order_id} did not converge within 30 s: is the stack up?")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - created)
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 1)

    results: dict[str, Any] = {
        "orders": args.orders,
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
        "naive_fixed_sleep_ms": 2000,
    }
    print(f"convergence over {args.orders} orders (order HTTP response -> points read model):")
    print(
        f"  mean {results['mean_ms']} ms, p50 {results['p50_ms']} ms, p95 {results['p95_ms']} ms, "
        f"p99 {results['p99_ms']} ms, max {results['max_ms']} ms"
    )
    print(f"  the seed's fixed `sleep 2` waits {2000 / results['p50_ms']:.1f}x the median")
    print(f"result: {write_result('convergence', results)}")


if __name__ == "__main__":
    main()
