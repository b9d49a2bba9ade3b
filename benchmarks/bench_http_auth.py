"""Authenticated HTTP throughput: ``POST /api/customers/`` per second against a real gunicorn.

Starts the customers service under its own gunicorn config (``chassis.gunicorn``), once per
variant and one at a time, on its own ports (18001 naive, 18002 the others), against a scratch
database ``customer_bench_http`` on the stack's PostgreSQL (created here, dropped at the end),
and loads it with ``wrk`` (Debian's package; installed here with apt-get when missing and
running as root) from 127.0.0.1:

* naive: HTTP basic with the credential cache off (``AUTH_CREDENTIAL_CACHE=0``): every request
  hashes the password (PBKDF2, Django's default iterations), which is DRF's
  ``BasicAuthentication`` and what the services did before;
* cached: HTTP basic, the same ``curl -u`` credentials, verified once per worker and then
  served from ``chassis.auth``'s cache;
* token: ``Authorization: Token <key>`` (DRF's token authentication, one indexed lookup);
* ceiling: an unauthenticated ``GET /health/?only=database`` (no auth, no write, one
  ``SELECT 1``): what this machine serves through gunicorn and Django at all, for scale.

Each create is a real one: the customer row and its outbox event in one transaction (so the
schema registry must be up: ``make up``). Prints requests/s and latency percentiles for each
variant, and writes a JSON record to ``benchmarks/results/``.

    uv run python benchmarks/bench_http_auth.py --duration 10
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from common import ROOT, write_result

SERVICE_DIR = ROOT / "services" / "customers"
CORES = os.cpu_count() or 1
DATABASE = "customer_bench_http"
USERNAME = "bench"
PASSWORD = "bench-P@ssw0rd-1"  # noqa: S105  (a throwaway user in a throwaway database)
CREATE = "/api/customers/"
CEILING = "/health/?only=database"
BODY = {"first_name": "Bart", "last_name": "Simpson", "date_established": "1980-02-23T00:00:00Z"}

WRK_SCRIPT = """
wrk.method = os.getenv("BENCH_METHOD")
wrk.headers["Accept"] = "application/json"
if wrk.method == "POST" then
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/json"
end
if os.getenv("BENCH_AUTHORIZATION") ~= "" then
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def ensure_wrk() -> str:
    """The path of ``wrk``, installing Debian's package if it is missing (as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: install it (sudo apt-get install -y wrk) and run again.")
    print("installing wrk (Debian package) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        if subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
            raise SystemExit(
                f"`{' '.join(command)}` failed: is Debian's package repository reachable? "
                "Install wrk by hand and run again."
            )
    return shutil.which("wrk") or sys.exit("apt-get installed wrk, but it is not on PATH.")


def admin_url(base: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path="/postgres"))


@contextlib.contextmanager
def scratch_database(base: str) -> Iterator[str]:
    """A fresh database on the stack's PostgreSQL for the run, dropped afterwards."""
    with psycopg.connect(admin_url(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    try:
        yield urlunsplit(urlsplit(base)._replace(path=f"/{DATABASE}"))
    finally:
        with psycopg.connect(admin_url(base), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=SERVICE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, port: int, log_dir: Path, name: str) -> Iterator[tuple[str, int]]:
    """The customers service under its own gunicorn config on ``port``, until the block ends.

    Yields its URL and the master's pid (its workers are the master's children).
    """
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=SERVICE_DIR,
            env={**env, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(
                    f"gunicorn ({name}) exited ({process.returncode}):\n{log.read_text()[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/?only=database", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn ({name}) not ready on {url} in 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def cpu_snapshot(server_pid: int, database_url: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the gunicorn master and workers, and of the database's backends."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    server = [server_pid, *_children(server_pid)]
    return {
        "server": {pid: _cpu_seconds(pid) for pid in server},
        "database": {row[0]: _cpu_seconds(row[0]) for row in rows},
    }


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, per side (processes seen in either)."""
    used = {}
    for side in ("server", "database"):
        pids = set(before[side]) | set(after[side])
        used[side] = sum(after[side].get(pid, 0.0) - before[side].get(pid, 0.0) for pid in pids)
    return used


def load(
    wrk: str,
    url: str,
    authorization: str,
    *,
    duration: int,
    connections: int,
    threads: int,
    script: Path,
    path: str = CREATE,
) -> dict[str, Any]:
    """One wrk run (``POST /api/customers/``, or a GET of ``path``); the script's summary."""
    env = {
        **os.environ,
        "BENCH_AUTHORIZATION": authorization,
        "BENCH_BODY": json.dumps(BODY),
        "BENCH_METHOD": "POST" if path == CREATE else "GET",
    }
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "60s",
        "-s",
        str(script),
        f"{url}{path}",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("BENCH ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    figures: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH "))
    seconds = figures["duration_us"] / 1e6
    return {
        "requests": figures["requests"],
        "seconds": round(seconds, 2),
        "per_s": round(figures["requests"] / seconds, 1),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p90_ms": round(figures["p90_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "max_ms": round(figures["max_us"] / 1000, 2),
        "non_2xx": figures["non_2xx"],
        "socket_errors": figures["socket_errors"],
    }


def check_create(url: str, authorization: str) -> None:
    response = httpx.post(
        f"{url}/api/customers/", json=BODY, headers={"Authorization": authorization}, timeout=30
    )
    if response.status_code != 201:
        raise SystemExit(f"POST {url}/api/customers/ answered {response.status_code}: {response.text[:500]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per variant")
    parser.add_argument("--connections", type=int, default=16, help="concurrent wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")), help="gunicorn workers"
    )
    parser.add_argument(
        "--variants",
        default="naive,cached,token,ceiling",
        help="comma-separated subset of naive,cached,token,ceiling",
    )
    parser.add_argument(
        "--gunicorn-args",
        default="",
        help="extra gunicorn options for every variant (GUNICORN_CMD_ARGS), e.g. '--threads 4'",
    )
    parser.add_argument("--naive-port", type=int, default=18001)
    parser.add_argument("--cached-port", type=int, default=18002)
    args = parser.parse_args()
    wrk = ensure_wrk()
    base = os.environ.get("POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432")
    basic = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    with (
        tempfile.TemporaryDirectory(prefix="bench-http-auth-") as tmp,
        scratch_database(base) as database_url,
    ):
        log_dir = Path(tmp)
        script = log_dir / "post.lua"
        script.write_text(WRK_SCRIPT)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "customers_site.settings",
            "DJANGO_DEBUG": "0",  # DEBUG records every query: not what runs in production
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": str(args.workers),
            "GUNICORN_CMD_ARGS": args.gunicorn_args,
            "DEV_SUPERUSER_USERNAME": USERNAME,
            "DEV_SUPERUSER_PASSWORD": PASSWORD,
        }
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "ensure_dev_superuser")  # a PBKDF2 hash, as in production
        token = "Token " + manage(env, "api_token", USERNAME).splitlines()[-1]
        naive_env = {**env, "AUTH_CREDENTIAL_CACHE": "0"}
        # (name, server, port, Authorization, path). One server at a time: a naive server
        # still hashing the requests queued when its load stopped would steal the next one's CPU.
        variants = [
            ("naive", naive_env, args.naive_port, basic, CREATE),
            ("cached", env, args.cached_port, basic, CREATE),
            ("token", env, args.cached_port, token, CREATE),
            # What this machine serves at all: no auth, no write, one SELECT 1.
            ("ceiling", env, args.cached_port, "", CEILING),
        ]
        wanted = set(args.variants.split(","))
        variants = [variant for variant in variants if variant[0] in wanted]
        results: dict[str, Any] = {
            "duration_s": args.duration,
            "connections": args.connections,
            "gunicorn_workers": args.workers,
            "gunicorn_args": args.gunicorn_args,
        }
        for name, server_env, port, authorization, path in variants:
            with gunicorn(server_env, port=port, log_dir=log_dir, name=name) as (url, pid):
                if path == CREATE:
                    check_create(url, authorization)
                if name != "naive":
                    # Warm-up: every worker verifies the credential once, opens its connection.
                    load(wrk, url, authorization, duration=2, connections=args.connections,
                         threads=args.threads, script=script, path=path)  # fmt: skip
                before = cpu_snapshot(pid, database_url)
                results[name] = load(
                    wrk,
                    url,
                    authorization,
                    duration=args.duration,
                    connections=args.connections,
                    threads=args.threads,
                    script=script,
                    path=path,
                )
                used = cpu_used(before, cpu_snapshot(pid, database_url))
                served = max(results[name]["requests"], 1)
                results[name]["server_cpu_ms"] = round(used["server"] * 1000 / served, 3)
                results[name]["database_cpu_ms"] = round(used["database"] * 1000 / served, 3)
                # What the server and its database alone would serve on every core of this
                # machine: a figure the other load on a shared machine does not change much.
                per_request = (used["server"] + used["database"]) / served
                results[name]["capacity_per_s"] = round(CORES / per_request) if per_request else None
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT count(*) FROM customers_customer").fetchone()
            results["customers_created"] = row[0] if row else 0
    print(
        f"\nPOST /api/customers/ (customer + outbox row), gunicorn {args.workers} workers"
        f"{' ' + args.gunicorn_args if args.gunicorn_args else ''}, "
        f"wrk {args.connections} connections, {args.duration} s per variant "
        f"(ceiling: unauthenticated GET {CEILING})"
    )
    print(
        f"{'variant':<8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'non-2xx':>8} {'vs naive':>9} {'cpu ms/req':>11} {'db ms/req':>10}"
        f" {f'capacity ({CORES} cores)':>18}"
    )
    naive_rate = results["naive"]["per_s"] or 1.0 if "naive" in results else None
    for name, *_ in variants:
        figures = results[name]
        figures["vs_naive"] = round(figures["per_s"] / naive_rate, 1) if naive_rate else None
        print(
            f"{name:<8} {figures['requests']:>9} {figures['per_s']:>8.0f} {figures['p50_ms']:>8.1f}"
            f" {figures['p90_ms']:>8.1f} {figures['p99_ms']:>8.1f} {figures['max_ms']:>8.1f}"
            f" {figures['non_2xx'] + figures['socket_errors']:>8} {figures['vs_naive'] or 0:>8.1f}x"
            f" {figures['server_cpu_ms']:>11.2f} {figures['database_cpu_ms']:>10.2f}"
            f" {figures['capacity_per_s'] or 0:>14}/s"
        )
    print(
        "cpu ms/req: CPU of the gunicorn master and workers per request; db ms/req: of the"
        " database's backends; capacity: requests/s those two alone would serve on every core"
        f" (load average during the run: {os.getloadavg()[0]:.1f})"
    )
    failed = sum(results[name]["non_2xx"] + results[name]["socket_errors"] for name, *_ in variants)
    print(f"customers created: {results['customers_created']}; failed requests: {failed}")
    print(f"\nresult: {write_result('http_auth', results)}")
    if failed:
        raise SystemExit("some requests failed (non-2xx or socket errors): see above")


if __name__ == "__main__":
    main()
