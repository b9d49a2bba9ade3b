"""The orders translator on a 180,000-row backlog, and that backlog end to end to the points read model.

Everything runs on a benchmark copy of the pipeline, never the live one: its own orders
database (``orders_bench_<token>``) with its own Debezium connectors (table capture into a
private CDC topic, outbox EventRouter into a public topic, both named with the token), its
own points database and consumer groups. All of it is removed at the end, also after a
failure (connectors, replication slots, databases, topics, groups, registry subjects).

1. **End to end.** Translators (the orders service's batch handler ``on_order_rows_changed``,
   publishing to the bench's public topic) and points consumers (the points service's batch
   handler), ``--members`` of each (1 by default), are started as processes and wait in their
   polls; then N orders are inserted by SQL (chunks of 10,000 rows, one transaction each).
   Measured from the first insert: when Debezium had put all N on the CDC topic, when all N
   translated events were on the public topic, and when the points read model held exactly N.
2. **Translator on the backlog.** On the now full CDC topic, fresh consumer groups translate
   the whole backlog into a second orders database (no connector reads its outbox):

   * naive: the translator as it was, a per-event handler calling ``publish()`` once per
     change (one outbox ``INSERT`` each; one transaction per batch, inbox claimed per batch);
   * batch: the batch handler, ``publish_many()`` (one multi-row ``INSERT`` per batch);
   * with ``--members N``: the batch handler in N processes of one group (the CDC topic has
     3 partitions), timed from the first member's assignment to an exact outbox.

Both are exact: the outbox holds N rows afterwards.

3. **Catch-up** (``--catch-up``). N translators and points consumers launched on the full CDC
   topic (fresh groups), through an outbox connector and a public topic of their own, timed
   from their launch to an exact read model.

The end-to-end and catch-up phases report the CPU seconds each component used meanwhile.
Needs the stack (`make up`).

    uv run python benchmarks/bench_translator.py [--orders 180000] [--batch-size N] [--members 3] [--catch-up]
    uv run python benchmarks/bench_translator.py --profile naive   # cProfile of one path
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from common import drop_database, remove_topics_and_subjects, setup_django, write_result

HERE = Path(__file__).resolve().parent
POSTGRES = os.environ.get("POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432")
INSERT_CHUNK = 10_000
CORES = os.cpu_count() or 1


def database_url(name: str) -> str:
    return f"{POSTGRES.rstrip('/')}/{name}"


# -- roles run as separate processes (each its own Django settings) ----------------------------


def bench_types(public_topic: str) -> tuple[Any, Any]:
    from eventing.events import EventType
    from orders.events import ORDER_CREATED, ORDER_DELETED

    return (
        EventType(ORDER_CREATED.type, public_topic, ORDER_CREATED.schema, key_field=ORDER_CREATED.key_field),
        EventType(ORDER_DELETED.type, public_topic, ORDER_DELETED.schema, key_field=ORDER_DELETED.key_field),
    )


def translator_registry(mode: str, cdc_topic: str, public_topic: str) -> Any:
    from eventing import publish
    from eventing.consumer.registry import HandlerRegistry
    from eventing.schemas import register
    from orders import handlers

    created, deleted = bench_types(public_topic)
    register([created, deleted])
    registry = HandlerRegistry()
    if mode == "batch":

        def on_rows(events: Any) -> None:
            from eventing import publish_many

            publish_many([handlers.translation(e, created=created, deleted=deleted) for e in events])

        registry.raw_handler(cdc_topic, event_id=handlers.cdc_event_id, batch=True)(on_rows)
    else:

        def on_row(event: Any) -> None:  # the translator before issue 8: one publish() per change
            out = handlers.translation(event, created=created, deleted=deleted)
            publish(out.event_type, out.data, event_id=out.event_id, time=out.time)

        registry.raw_handler(cdc_topic, event_id=handlers.cdc_event_id)(on_row)
    return registry


def points_registry(public_topic: str) -> Any:
    from eventing.consumer.registry import HandlerRegistry
    from eventing.events import EventType
    from points import handlers
    from points.events import ORDER_CREATED, ORDER_DELETED

    registry = HandlerRegistry()
    for declared, fn in (
        (ORDER_CREATED, handlers.on_order_created),
        (ORDER_DELETED, handlers.on_order_deleted),
    ):
        bench_type = EventType(
            declared.type, public_topic, declared.schema, owned=False, record=declared.record
        )
        registry.handler(bench_type, batch=True)(fn)
    return registry


def run_role(args: argparse.Namespace) -> None:
    """One consumer process: print ``ready`` once assigned, then a JSON line when done."""
    settings = "orders_site.settings" if args.role == "translator" else "points_site.settings"
    setup_django(settings, args.database)
    from dataclasses import replace

    from eventing.consumer.kafka import build_runner, runner_config

    if args.role == "translator":
        registry = translator_registry(args.mode, args.cdc_topic, args.public_topic)
    else:
        registry = points_registry(args.public_topic)
    config = replace(runner_config(), inbox_purge_interval=0)
    if args.batch_size:
        config = replace(config, batch_size=args.batch_size)
    runner = build_runner(args.group, registry, config=config)
    runner._status_reporter = None  # no status rows in the bench databases' way
    runner.subscribe()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    # SIGTERM (the orchestrator's stop): finish the iteration, commit and leave the group, so
    # the group is empty when the benchmark deletes it.
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    ready = False
    first = last = None
    while runner.counters.applied < args.expect and not stopping.is_set():
        started = time.time()
        runner.run_once()
        if not ready and runner.consumer.assignment():
            ready = True
            print("ready", flush=True)
        if runner.counters.applied:
            # From the start of the first iteration that applied anything (the group join
            # before it is not the translator's work) to the end of the last one.
            first, last = first or started, time.time()
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    runner.close()
    result = {
        "first": first,
        "last": last,
        "applied": runner.counters.applied,
        "batch_size": config.batch_size,
    }
    print(json.dumps(result), flush=True)


class Role:
    """A role process started by the orchestrator."""

    def __init__(self, *argv: str, profile: bool = False) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), *argv]
        if profile:
            command.append("--profile")
        env = {**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self._line(deadline - time.monotonic()).strip() != "ready":
            pass

    def result(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not (line := self._line(deadline - time.monotonic())).startswith('{"first"'):
            pass
        result: dict[str, Any] = json.loads(line)
        self.process.wait(30)
        return result

    def _line(self, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            raise TimeoutError(f"no output from {self.process.args} in time") from None
        if line is None:
            raise RuntimeError(f"{self.process.args} exited with {self.process.wait()}")
        return line

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def terminate(self, timeout: float = 60.0) -> None:
        """Stop it gracefully (it leaves its group); kill it if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


# -- the orchestrator --------------------------------------------------------------------------


def topic_size(topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    from eventing.conf import eventing_settings

    consumer = Consumer(eventing_settings.kafka_config(**{"group.id": f"size-{uuid.uuid4().hex}"}))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        total = 0
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def create_topics(*topics: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    from eventing.conf import eventing_settings

    admin = AdminClient(eventing_settings.kafka_config())
    futures = admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in topics])
    for future in futures.values():
        future.result(30)


def insert_orders(database: str, count: int, customers: int) -> None:
    """``count`` orders by SQL, ``INSERT_CHUNK`` rows per transaction."""
    customer_ids = [str(uuid.uuid4()) for _ in range(customers)]
    with psycopg.connect(database_url(database), autocommit=True) as conn:
        for start in range(0, count, INSERT_CHUNK):
            rows = min(INSERT_CHUNK, count - start)
            conn.execute(
                "INSERT INTO orders_order (id, customer_id, date_placed, item_count)"
                " SELECT gen_random_uuid(), (%s::uuid[])[1 + i %% %s::int], now(), 1 + i %% 7"
                " FROM generate_series(%s::int, %s::int) AS i",
                [customer_ids, customers, start, start + rows - 1],
            )


def cpu_seconds(roles: dict[str, list[Role]]) -> dict[str, float]:
    """CPU time (user + system, with reaped children's) used so far by each component (``/proc``).

    The stack's JVMs carry ``-Dstack.component=<name>``; PostgreSQL's backends and workers are
    ``postgres``; the roles are theirs; everything else (the live stack's services, this
    orchestrator) is ``other``.
    """
    tick = os.sysconf("SC_CLK_TCK")
    owner = {role.process.pid: name for name, members in roles.items() for role in members}
    totals: dict[str, float] = dict.fromkeys([*roles, "postgres", "other"], 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used = sum(int(value) for value in fields[11:15]) / tick  # utime stime cutime cstime
        name = owner.get(int(entry.name))
        if name is None:
            tagged = [arg for arg in command if arg.startswith(b"-Dstack.component=")]
            if tagged:
                name = tagged[0].split(b"=", 1)[1].decode()
            elif command[0].startswith(b"postgres") or command[0].endswith(b"/postgres"):
                name = "postgres"
            else:
                name = "other"
        totals[name] = totals.get(name, 0.0) + used
    return totals


def count_rows(database: str, table: str) -> int:
    with psycopg.connect(database_url(database)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0


def truncate(database: str, *tables: str) -> None:
    with psycopg.connect(database_url(database), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(tables)}")


def migrate(settings: str, database: str) -> None:
    """Create and migrate a database with another service's settings (a short process)."""
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import common; "
        f"common.setup_django({settings!r}, {database!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def drop_connectors(names: list[str], slots: list[str]) -> None:
    from eventing.conf import eventing_settings
    from eventing.connect import ConnectClient

    client = ConnectClient(eventing_settings.CONNECT_URL)
    for name in names:
        client.delete(name)
    client.close()
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        deadline = time.monotonic() + 60
        for slot in slots:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT active FROM pg_replication_slots WHERE slot_name = %s", [slot]
                ).fetchone()
                if row is None:
                    break
                if not row[0]:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", [slot])
                    break
                time.sleep(0.2)


def role_argv(
    role: str, database: str, group: str, args: argparse.Namespace, topics: dict[str, str]
) -> list[str]:
    return [
        "--role",
        role,
        "--database",
        database,
        "--group",
        group,
        "--cdc-topic",
        topics["cdc"],
        "--public-topic",
        topics["public"],
        "--expect",
        str(args.orders),
        "--batch-size",
        str(args.batch_size if role == "translator" else args.points_batch_size),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=180_000, help="orders in the backlog")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument(
        "--batch-size", type=int, default=0, help="translator batch size, both paths (0: the orders setting)"
    )
    parser.add_argument("--points-batch-size", type=int, default=0, help="0: the points setting")
    parser.add_argument(
        "--profile", nargs="?", const="naive", default=None, help="cProfile a role (to stderr)"
    )
    parser.add_argument("--skip-end-to-end", action="store_true", help="only the translator on the backlog")
    parser.add_argument(
        "--members",
        type=int,
        default=1,
        help="also run the batch path with N translator members in one group (the CDC topic: 3 partitions)",
    )
    # Role processes (internal).
    parser.add_argument("--role", choices=["translator", "points"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--catch-up",
        action="store_true",
        help="also time N translators and points consumers started on the full CDC topic, to the read model",
    )
    parser.add_argument("--mode", default="batch", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    parser.add_argument("--cdc-topic", help=argparse.SUPPRESS)
    parser.add_argument("--public-topic", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        args.profile = args.profile is not None
        run_role(args)
        return

    token = f"benchtr{uuid.uuid4().hex[:8]}"
    databases = {
        "orders": f"orders_{token}",
        "copy": f"orders_{token}_copy",
        "points": f"points_{token}",
        "catch_up_points": f"points_{token}_catchup",
    }
    topics = {"cdc": f"private_{token}_order_cdc", "public": f"public_{token}_order_events"}
    setup_django("orders_site.settings", databases["orders"])
    from eventing.connect import ConnectClient, outbox_connector
    from eventing.connect.defaults import database_endpoint, table_capture

    connectors = [
        # what the orders service applies (its converter settings), on this run's copy
        table_capture(f"{token}-cdc", tables=["public.orders_order"], topic=topics["cdc"]),
        outbox_connector(f"{token}-outbox", database_endpoint()),
    ]
    roles: list[Role] = []
    try:
        migrate("orders_site.settings", databases["copy"])
        migrate("points_site.settings", databases["points"])
        create_topics(topics["cdc"], topics["public"])
        from eventing.conf import eventing_settings

        client = ConnectClient(eventing_settings.CONNECT_URL)
        for connector in connectors:
            client.apply(connector)
        for connector in connectors:
            client.wait_running(connector.name, timeout=120)
        client.close()
        results: dict[str, Any] = {"orders": args.orders, "batch_size": args.batch_size, "token": token}

        if not args.skip_end_to_end:
            results["end_to_end"] = end_to_end(args, databases, topics, token, roles)

        size = topic_size(topics["cdc"])
        if size < args.orders:  # only without the end-to-end phase: wait for Debezium
            if args.skip_end_to_end:
                insert_orders(databases["orders"], args.orders, args.customers)
            deadline = time.time() + 600
            while topic_size(topics["cdc"]) < args.orders and time.time() < deadline:
                time.sleep(0.5)
        for mode in ("naive", "batch"):
            truncate(databases["copy"], "eventing_outbox", "eventing_inbox")
            role = Role(
                *role_argv("translator", databases["copy"], f"{token}-{mode}", args, topics),
                "--mode",
                mode,
                profile=args.profile == mode,
            )
            roles.append(role)
            role.wait_ready()
            r = role.result(timeout=900)
            rows = count_rows(databases["copy"], "eventing_outbox")
            assert rows == args.orders, f"{mode} translator wrote {rows} outbox rows, not {args.orders}"
            seconds = r["last"] - r["first"]
            results["batch_size"] = r["batch_size"]
            results[f"translator_{mode}"] = {
                "seconds": round(seconds, 2),
                "events_per_s": round(args.orders / seconds, 1),
            }
        if args.members > 1:
            results[f"translator_batch_x{args.members}"] = several_members(
                args, databases, topics, token, roles
            )
        if args.catch_up:
            # The copy's outbox, routed by a connector of its own to a public topic of its own.
            truncate(databases["copy"], "eventing_outbox", "eventing_inbox")
            caught = {"cdc": topics["cdc"], "public": f"public_{token}_catchup_order_events"}
            create_topics(caught["public"])
            endpoint = dataclasses.replace(database_endpoint(), dbname=databases["copy"])
            connectors.append(outbox_connector(f"{token}-catchup-outbox", endpoint))
            client = ConnectClient(eventing_settings.CONNECT_URL)
            client.apply(connectors[-1])
            client.wait_running(connectors[-1].name, timeout=120)
            client.close()
            results["catch_up"] = catch_up(args, databases, caught, token, roles)
        report(args, results)
    finally:
        for role in roles:
            role.stop()
        drop_connectors([c.name for c in connectors], [c.config["slot.name"] for c in connectors])
        remove_topics_and_subjects(token)
        for name in databases.values():
            drop_database(name)


def end_to_end(
    args: argparse.Namespace, databases: dict[str, str], topics: dict[str, str], token: str, roles: list[Role]
) -> dict[str, Any]:
    """The backlog inserted by SQL, timed through every hop to an exact points read model.

    ``args.members`` translators and as many points consumers (one group each) wait in their
    polls; then the orders are inserted. Polled every 0.2 s from the first insert: when
    Debezium had put every change on the CDC topic, the translators' outbox held every
    translated event, Debezium's outbox connector had put them all on the public topic, and
    the points read model held exactly N orders; and the CPU time each component used meanwhile
    (the hops share the machine's cores).
    """
    translators = [
        Role(*role_argv("translator", databases["orders"], f"{token}-translator", args, topics))
        for _ in range(args.members)
    ]
    points = [
        Role(*role_argv("points", databases["points"], f"{token}-points", args, topics))
        for _ in range(args.members)
    ]
    roles += translators + points
    for role in translators + points:
        role.wait_ready()
    print(f"inserting {args.orders} orders by SQL into {databases['orders']} ...", flush=True)
    cpu_before = cpu_seconds({"translators": translators, "points_consumers": points})
    started = time.time()
    insert_orders(databases["orders"], args.orders, args.customers)
    inserted = time.time()
    reached: dict[str, float] = {}
    probes = {
        "cdc": lambda: topic_size(topics["cdc"]),
        "outbox": lambda: count_rows(databases["orders"], "eventing_outbox"),
        "public": lambda: topic_size(topics["public"]),
        "read_model": lambda: count_rows(databases["points"], "points_order"),
    }
    deadline = started + 600
    while len(reached) < len(probes):
        if time.time() > deadline:
            raise TimeoutError(f"end to end: after 600 s only {sorted(reached)} held {args.orders}")
        for name, probe in probes.items():
            if name not in reached and probe() >= args.orders:
                reached[name] = time.time()
        time.sleep(0.2)
    cpu_after = cpu_seconds({"translators": translators, "points_consumers": points})
    exact = count_rows(databases["points"], "points_order")
    assert exact == args.orders, f"points read model holds {exact} orders, not {args.orders}"
    for role in translators + points:
        role.terminate()
    return {
        "members": args.members,
        "insert_s": round(inserted - started, 2),
        "cdc_topic_full_s": round(reached["cdc"] - started, 2),
        "outbox_full_s": round(reached["outbox"] - started, 2),
        "public_topic_full_s": round(reached["public"] - started, 2),
        "points_done_s": round(reached["read_model"] - started, 2),
        "read_model_orders": exact,
        "cpu_s": {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 1) for name in cpu_after},
    }


def catch_up(
    args: argparse.Namespace, databases: dict[str, str], topics: dict[str, str], token: str, roles: list[Role]
) -> dict[str, Any]:
    """A backlog already on the CDC topic, caught up by translators and points consumers started on it.

    After the other phases, on their full CDC topic: fresh groups (so they start from its
    beginning), translators writing into the copy database, whose outbox a connector of its own
    (started by the caller) routes to ``topics["public"]``, a topic of its own, and points
    consumers on that topic into a fresh points database. Timed from launching the processes
    (their start-up included) to the outbox, the public topic and the read model holding N.
    """
    migrate("points_site.settings", databases["catch_up_points"])
    cpu_before = cpu_seconds({})
    started = time.time()
    translators = [
        Role(*role_argv("translator", databases["copy"], f"{token}-catchup-translator", args, topics))
        for _ in range(args.members)
    ]
    points = [
        Role(*role_argv("points", databases["catch_up_points"], f"{token}-catchup-points", args, topics))
        for _ in range(args.members)
    ]
    roles += translators + points
    reached: dict[str, float] = {}
    probes = {
        "outbox": lambda: count_rows(databases["copy"], "eventing_outbox"),
        "public": lambda: topic_size(topics["public"]),
        "read_model": lambda: count_rows(databases["catch_up_points"], "points_order"),
    }
    deadline = started + 600
    while len(reached) < len(probes):
        if time.time() > deadline:
            raise TimeoutError(f"catch-up: after 600 s only {sorted(reached)} held {args.orders}")
        for name, probe in probes.items():
            if name not in reached and probe() >= args.orders:
                reached[name] = time.time()
        time.sleep(0.2)
    roles_cpu = cpu_seconds({"translators": translators, "points_consumers": points})
    exact = count_rows(databases["catch_up_points"], "points_order")
    assert exact == args.orders, f"catch-up read model holds {exact} orders, not {args.orders}"
    for role in translators + points:
        role.terminate()
    return {
        "members": args.members,
        "translated_s": round(reached["outbox"] - started, 2),
        "public_topic_full_s": round(reached["public"] - started, 2),
        "points_done_s": round(reached["read_model"] - started, 2),
        "read_model_orders": exact,
        "cpu_s": {
            name: round(roles_cpu[name] - cpu_before.get(name, 0.0), 1)
            for name in roles_cpu
            if name not in ("translators", "points_consumers")
        }
        | {name: round(roles_cpu[name], 1) for name in ("translators", "points_consumers")},
    }


def several_members(
    args: argparse.Namespace, databases: dict[str, str], topics: dict[str, str], token: str, roles: list[Role]
) -> dict[str, Any]:
    """The batch path with ``args.members`` translators in one group, sharing the partitions.

    No member knows its share, so the wall time is the orchestrator's: from the first member
    assigned to the outbox holding every change exactly once (polled every 0.1 s).
    """
    truncate(databases["copy"], "eventing_outbox", "eventing_inbox")
    argv = role_argv("translator", databases["copy"], f"{token}-batch-x{args.members}", args, topics)
    members = [Role(*argv, "--mode", "batch") for _ in range(args.members)]
    roles.extend(members)
    members[0].wait_ready()
    started = time.time()
    deadline = started + 900
    while (rows := count_rows(databases["copy"], "eventing_outbox")) < args.orders:
        if time.time() > deadline:
            raise TimeoutError(f"{args.members} translators wrote {rows} of {args.orders} outbox rows")
        time.sleep(0.1)
    seconds = time.time() - started
    with psycopg.connect(database_url(databases["copy"])) as conn:
        row = conn.execute("SELECT count(DISTINCT id) FROM eventing_outbox").fetchone()
    distinct = row[0] if row else 0
    assert rows == distinct == args.orders, (
        f"outbox: {rows} rows, {distinct} distinct, {args.orders} expected"
    )
    for member in members:
        member.terminate()
    return {
        "members": args.members,
        "seconds": round(seconds, 2),
        "events_per_s": round(args.orders / seconds, 1),
    }


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    naive, batch = results["translator_naive"], results["translator_batch"]
    results["ratio"] = round(batch["events_per_s"] / naive["events_per_s"], 1)
    print(f"translator on a backlog of {args.orders} CDC records (batch size {results['batch_size']}):")
    print(f"  {'path':<36} {'seconds':>8} {'events/s':>9} {'vs naive':>9}")
    print(
        f"  {'naive (publish() per change)':<36} {naive['seconds']:>8.2f}"
        f" {naive['events_per_s']:>9.0f} {1.0:>8.1f}x"
    )
    print(
        f"  {'batch (publish_many() per batch)':<36} {batch['seconds']:>8.2f} {batch['events_per_s']:>9.0f}"
        f" {results['ratio']:>8.1f}x"
    )
    several = results.get(f"translator_batch_x{args.members}")
    if several:
        label = f"batch, {several['members']} members (wall)"
        print(
            f"  {label:<36} {several['seconds']:>8.2f} {several['events_per_s']:>9.0f}"
            f" {several['events_per_s'] / naive['events_per_s']:>8.1f}x"
        )
    e2e = results.get("end_to_end")
    if e2e:
        print(
            f"end to end, {args.orders} orders inserted by SQL -> points read model"
            " (seconds from the first insert):"
        )
        print(
            f"  inserted {e2e['insert_s']:.1f}  on the CDC topic {e2e['cdc_topic_full_s']:.1f}"
            f"  translated (outbox) {e2e['outbox_full_s']:.1f}"
            f"  on the public topic {e2e['public_topic_full_s']:.1f}"
            f"  in the read model {e2e['points_done_s']:.1f}"
            f"  (exact: {e2e['read_model_orders']} orders; {e2e['members']} translator and"
            " points member(s))"
        )
        cpu = ", ".join(f"{name} {seconds:.1f}" for name, seconds in e2e["cpu_s"].items())
        print(f"  CPU seconds meanwhile: {cpu} (of {CORES * e2e['points_done_s']:.0f} on {CORES} cores)")
    caught = results.get("catch_up")
    if caught:
        cpu = ", ".join(f"{name} {seconds:.1f}" for name, seconds in caught["cpu_s"].items())
        print(
            f"catch-up, {caught['members']} translators and points consumers started on the full CDC topic"
            f" (seconds from their launch): translated (outbox) {caught['translated_s']:.1f}"
            f"  on the public topic {caught['public_topic_full_s']:.1f}"
            f"  in the read model {caught['points_done_s']:.1f} (exact: {caught['read_model_orders']})"
        )
        print(f"  CPU seconds meanwhile: {cpu} (of {CORES * caught['points_done_s']:.0f} on {CORES} cores)")
    print(f"result: {write_result('translator', results)}")


if __name__ == "__main__":
    main()
