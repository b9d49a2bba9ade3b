"""End-to-end convergence: from an order's commit to the points read model including it.

The path measured: orders_order row -> WAL -> Debezium (table capture) -> private CDC topic
-> translator (inbox + outbox in one transaction) -> WAL -> Debezium (outbox EventRouter)
-> public topic -> points consumer (inbox + read model). Orders are inserted into the orders
database directly (one autocommit INSERT each, as the service's create does), and the points
read model is polled every 5 ms, so neither HTTP nor the award API's password hashing blurs
the figures.

Two pipelines:

* **idle**: one order at a time, each after the previous one converged and a random pause
  (0.2-0.6 s), so every order finds the consumers waiting in their polls: this is where
  anything that holds a consumer loop up (a blocking status report, a poll timeout) shows.
* **loaded**: open loop, orders at a fixed rate for a fixed time whatever the pipeline does
  (``--rate``, ``--seconds``), latency from each order's own commit.

The naive baseline in the same run is the seed's demo: a client that waits a fixed 2 s is
either slower than needed (below p100) or wrong (above).

    uv run python benchmarks/bench_convergence.py                       # both pipelines
    uv run python benchmarks/bench_convergence.py --mode loaded --rate 300 --seconds 60
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
from typing import Any

import psycopg
from common import write_result

NAIVE_SLEEP_MS = 2000


class Arrivals:
    """Polls the points read model for outstanding order ids; records when each appears."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.outstanding: dict[uuid.UUID, float] = {}  # order id -> commit time
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, order_id: uuid.UUID, committed_at: float) -> None:
        with self.lock:
            self.outstanding[order_id] = committed_at

    def pending(self) -> int:
        with self.lock:
            return len(self.outstanding)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as db:
            while not self.done.is_set():
                with self.lock:
                    ids = list(self.outstanding)
                if ids:
                    rows = db.execute(
                        "SELECT order_id FROM points_order WHERE order_id = ANY(%s)", [ids]
                    ).fetchall()
                    seen = time.perf_counter()
                    with self.lock:
                        for (order_id,) in rows:
                            self.latencies.append(seen - self.outstanding.pop(order_id))
                self.done.wait(0.005)

    def wait_all(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while self.pending():
            if time.perf_counter() > deadline:
                raise SystemExit(
                    f"{self.pending()} orders did not converge within {timeout} s: is the stack up?"
                )
            time.sleep(0.01)


def insert_order(db: psycopg.Connection[Any], customer_id: uuid.UUID) -> tuple[uuid.UUID, float]:
    order_id = uuid.uuid4()
    db.execute(
        "INSERT INTO orders_order (id, customer_id, date_placed, item_count) VALUES (%s, %s, now(), 1)",
        [order_id, customer_id],
    )
    return order_id, time.perf_counter()


def idle(orders_url: str, arrivals: Arrivals, count: int, rng: random.Random) -> None:
    customer_id = uuid.uuid4()
    with psycopg.connect(orders_url, autocommit=True) as db:
        for _ in range(count):
            arrivals.expect(*insert_order(db, customer_id))
            arrivals.wait_all(30)
            time.sleep(rng.uniform(0.2, 0.6))


def loaded(orders_url: str, arrivals: Arrivals, rate: float, seconds: float) -> int:
    customer_id = uuid.uuid4()
    total = int(rate * seconds)
    with psycopg.connect(orders_url, autocommit=True) as db:
        start = time.perf_counter()
        for k in range(total):
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            arrivals.expect(*insert_order(db, customer_id))
        achieved = total / (time.perf_counter() - start)
    arrivals.wait_all(60)
    return round(achieved)


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 1)

    return {
        "count": len(ordered),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
        "over_naive_sleep": sum(1 for x in ordered if x * 1000 > NAIVE_SLEEP_MS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["idle", "loaded", "both"], default="both")
    parser.add_argument("--orders", type=int, default=100, help="orders of the idle pipeline")
    parser.add_argument("--rate", type=float, default=300, help="orders per second of the loaded pipeline")
    parser.add_argument("--seconds", type=float, default=20, help="duration of the loaded pipeline")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    base = os.environ.get("POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432")
    results: dict[str, Any] = {"naive_fixed_sleep_ms": NAIVE_SLEEP_MS}
    rows = []
    for mode in ("idle", "loaded"):
        if args.mode not in (mode, "both"):
            continue
        arrivals = Arrivals(f"{base}/points")
        arrivals.thread.start()
        try:
            if mode == "idle":
                idle(f"{base}/orders", arrivals, args.orders, random.Random(args.seed))
                label = f"idle ({args.orders} orders, one at a time)"
            else:
                achieved = loaded(f"{base}/orders", arrivals, args.rate, args.seconds)
                label = f"loaded ({args.rate:g}/s for {args.seconds:g} s, achieved {achieved}/s)"
                results["loaded_rate_achieved"] = achieved
        finally:
            arrivals.done.set()
            arrivals.thread.join()
        figures = summary(arrivals.latencies)
        results[mode] = figures
        rows.append((label, figures))
    print("convergence, order committed -> points read model (polled every 5 ms):")
    print(f"  {'pipeline':<48} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  > naive 2 s")
    for label, f in rows:
        print(
            f"  {label:<48} {f['p50_ms']:>6.1f}ms {f['p95_ms']:>6.1f}ms {f['p99_ms']:>6.1f}ms "
            f"{f['max_ms']:>6.1f}ms  {f['over_naive_sleep']}/{f['count']}"
        )
    print(f"  naive baseline (the seed's `sleep 2`): {NAIVE_SLEEP_MS} ms for every order")
    print(f"result: {write_result('convergence', results)}")


if __name__ == "__main__":
    main()
