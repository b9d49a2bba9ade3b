"""Stand-ins for the stack's servers in the unit tests: free ports, tiny servers, fake programs.

Nothing here talks to the shared stack: every port is one the kernel just handed out, every
process runs under the test's own temporary ``STACK_HOME``.
"""

from __future__ import annotations

import http.server
import socket
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LISTENER = textwrap.dedent(
    """\
    # A stand-in server: listens on 127.0.0.1:PORT, prints what it does, and serves until told
    # to stop. --ignore-term: SIGTERM is ignored (only SIGKILL ends it). --crash-after S: exit 3
    # S seconds after it started listening. --env NAME: print that variable at start.
    import argparse, os, signal, socket, sys, time

    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--crash-after", type=float)
    parser.add_argument("--env")
    args = parser.parse_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM, bye", flush=True), sys.exit(0)))
    if args.env:
        print(f"{args.env}={os.environ.get(args.env)}", flush=True)
    print(f"cwd={os.getcwd()}", flush=True)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen()
    server.settimeout(0.1)
    print(f"listening on {args.port}", flush=True)
    started = time.monotonic()
    while True:
        try:
            conn, _ = server.accept()
            conn.close()
        except socket.timeout:
            pass
        if args.crash_after is not None and time.monotonic() - started > args.crash_after:
            print("fatal: simulated crash", flush=True)
            sys.exit(3)
    """
)


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listener_argv(tmp_path: Path, port: int, *flags: str) -> list[str]:
    """The command line of :data:`LISTENER` (written into ``tmp_path``) on ``port``."""
    script = tmp_path / "listener.py"
    if not script.exists():
        script.write_text(LISTENER)
    return [sys.executable, str(script), str(port), *flags]


def executable(path: Path, body: str) -> Path:
    """Write a ``#!/bin/sh`` program at ``path`` (parents created) and make it executable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


@contextmanager
def listening() -> Iterator[socket.socket]:
    """A socket listening on a free loopback port (``getsockname()[1]``) for the block."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


@contextmanager
def http_server(routes: dict[str, tuple[int, str]]) -> Iterator[str]:
    """An HTTP server on a free port answering ``GET path`` with ``routes[path]`` = (status,
    body), 404 otherwise; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path, (404, "not found"))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test output is not the place for access logs."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie waiting for its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True
