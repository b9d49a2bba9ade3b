"""``stack``: install and run the local stack (``stack --help``; also ``python -m stack``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

from stack import api
from stack.errors import StackError
from stack.executor import ComponentStatus
from stack.settings import Settings

logger = logging.getLogger("stack")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CLI command; return the process exit code (errors are one line, no traceback)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="[stack] %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.run(args))
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stack: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stack",
        description="Run PostgreSQL, Kafka, Apicurio Registry and Kafka Connect + Debezium as "
        "local processes on 127.0.0.1 (state in $STACK_HOME, default <repo>/.stack).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_text: str, run: object, names: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if names:
            sub.add_argument("names", nargs="*", metavar="COMPONENT", help="default: all")
        sub.set_defaults(run=run)
        return sub

    command("install", "download the distributions without starting anything", _install)
    command("up", "install what is missing, start everything in order, wait until healthy", _up)
    command("down", "stop what the stack started, in reverse order", _down)
    command("status", "one line per component; exit 1 when one is not up", _status)
    logs = command("logs", "show each component's log file and its last lines", _logs)
    logs.add_argument("-n", "--lines", type=int, default=20, help="lines per log (default 20)")
    logs.add_argument("-f", "--follow", action="store_true", help="follow the logs (tail -F)")
    reset = command("reset", "stop everything and delete all data (keeps downloads)", _reset, names=False)
    reset.add_argument("--yes", action="store_true", help="confirm: this deletes all data")
    command("env", "print the variables that point a service at this stack", _env, names=False)
    return parser


def _install(args: argparse.Namespace) -> int:
    api.install(args.names or None)
    return 0


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    statuses = api.up(args.names or None)
    _print_statuses(statuses)
    print(f"stack up in {time.monotonic() - started:.1f}s")
    return 0 if all(s.ok for s in statuses) else 1


def _down(args: argparse.Namespace) -> int:
    api.down(args.names or None)
    return 0


def _status(args: argparse.Namespace) -> int:
    statuses = api.status(args.names or None)
    _print_statuses(statuses)
    return 0 if all(s.ok for s in statuses) else 1


def _logs(args: argparse.Namespace) -> int:
    paths = Settings.from_env().paths
    files = [paths.log(c.name) for c in api.components() if not args.names or c.name in args.names]
    print(f"logs folder: {paths.logs}")
    if args.follow:
        existing = [str(f) for f in files if f.exists()]
        if not existing:
            raise StackError(f"no log files yet in {paths.logs}; run `stack up` first")
        os.execvp("tail", ["tail", "-n", str(args.lines), "-F", *existing])  # noqa: S606
    for path in files:
        print(f"\n==> {path} <==")
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()
            print("\n".join(lines[-args.lines :]))
        else:
            print("(no log yet)")
    return 0


def _reset(args: argparse.Namespace) -> int:
    api.reset(confirm=args.yes)
    print("stack data deleted (downloads kept)")
    return 0


def _env(_: argparse.Namespace) -> int:
    for key, value in api.endpoints().items():
        print(f"export {key}={value}")
    return 0


def _print_statuses(statuses: Sequence[ComponentStatus]) -> None:
    for status in statuses:
        print(status.line())


if __name__ == "__main__":
    sys.exit(main())
