"""Generic launchers: a local process with a readiness probe, or an existing server to attach to.

Both implement :class:`Component`, the interface :mod:`stack.api` drives. A new process (a
Django web server, a consumer) is one :class:`ProcessComponent` declaration in
:mod:`stack.topology`: argv, environment, port, probe and dependencies.

Processes run detached (own session, stdin closed, stdout and stderr appended to
``logs/<name>.log``) so they outlive the command that started them. The pid file holds the pid
and the process start time, so a pid reused by an unrelated process is never mistaken for ours.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from stack.errors import StackError
from stack.probes import Probe, check, wait_until_ready
from stack.settings import LOOPBACK, PORTS, StackPaths

logger = logging.getLogger(__name__)

LOG_ROTATE_BYTES = 20 * 1024 * 1024
"""A log larger than this is moved to ``<name>.log.1`` when its component starts."""

MIN_FREE_BYTES_TO_START = 512 * 1024 * 1024
"""Refuse to start a component with less free disk than this under ``$STACK_HOME``."""

_STACK_FRAME = re.compile(r"at \S+\(.*\)$|\.\.\. \d+ more$")

_children: dict[int, subprocess.Popen[bytes]] = {}
"""Processes started by this Python process, kept so they can be reaped when they exit."""


class Installable(Protocol):
    """Something a component needs on disk before it can start (a downloaded distribution)."""

    @property
    def name(self) -> str:
        """What is installed, for messages."""

    def installed(self) -> bool:
        """True when nothing needs to be downloaded or unpacked."""

    def install(self) -> None:
        """Download and unpack; idempotent."""


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``stack status``.

    ``state`` is ``up`` (our process runs and answers its probe), ``starting`` (runs, does not
    answer yet), ``down`` (not running), ``external`` (attach mode: not ours, reachable) or
    ``unreachable`` (attach mode, not answering). ``health`` is ``None`` when healthy, else why
    not.
    """

    name: str
    state: str
    pid: int | None
    endpoint: str
    health: str | None

    @property
    def ok(self) -> bool:
        """True when the component can be used."""
        return self.state in ("up", "external")

    def line(self) -> str:
        """A human-readable, column-aligned line."""
        pid = f"pid {self.pid}" if self.pid else "-"
        health = "healthy" if self.health is None else self.health
        return f"{self.name:<20} {self.state:<11} {pid:<11} {self.endpoint:<40} {health}"


class Component(Protocol):
    """What :mod:`stack.api` needs from every component of the topology."""

    name: str
    endpoint: str
    depends_on: tuple[str, ...]

    def install(self) -> None:
        """Make everything needed to start available locally (downloads); never starts."""

    def start(self) -> None:
        """Ensure the component runs and is healthy; fast and side-effect free when it is."""

    def stop(self) -> None:
        """Stop the component if we run it; leave attached servers alone."""

    def status(self) -> ComponentStatus:
        """Report whether it runs and answers its probe."""


@dataclass(frozen=True)
class PortBinding:
    """A port a process listens on, with the variables to name when it is taken."""

    port: int
    env_var: str
    attach_var: str | None = None

    @classmethod
    def of(cls, name: str, ports: Mapping[str, int]) -> PortBinding:
        """The binding of the port registered as ``name`` in :data:`stack.settings.PORTS`."""
        spec = PORTS[name]
        return cls(ports[name], spec.env_var, spec.attach_var)


@dataclass
class ProcessComponent:
    """A server we run as a local process, declared as data.

    ``argv``/``env``/``cwd``/``user`` say how to run it (``argv`` may be a callable, evaluated
    just before the start, when building it needs checks such as finding a suitable ``java``;
    ``env`` is added to this process's environment; ``user`` runs it as that OS user, e.g.
    ``postgres`` when we are root).
    ``probe`` says when it is ready; ``ports`` are checked to be free before it starts.
    ``prepare`` hooks run before every start (write config files, initialise data dirs: they
    must be idempotent); ``after_ready`` hooks run after every successful start or when it was
    already up (create databases...). ``stop_argv``, when given, is tried first
    (``pg_ctl stop -m fast``); without one, or when it cannot run or fails, SIGTERM goes to the
    process group. Either way SIGKILL follows after ``stop_timeout`` seconds.
    """

    name: str
    argv: Sequence[str] | Callable[[], Sequence[str]]
    probe: Probe
    paths: StackPaths
    endpoint: str
    ports: Sequence[PortBinding] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    depends_on: tuple[str, ...] = ()
    distributions: Sequence[Installable] = ()
    prepare: Sequence[Callable[[], None]] = ()
    after_ready: Sequence[Callable[[], None]] = ()
    stop_argv: Sequence[str] | None = None
    start_timeout: float = 120.0
    stop_timeout: float = 30.0

    @property
    def log_file(self) -> Path:
        """Where the process's stdout and stderr go."""
        return self.paths.log(self.name)

    @property
    def pid_file(self) -> Path:
        """Where the running process's pid (and start time) is recorded."""
        return self.paths.pid(self.name)

    def install(self) -> None:
        """Install every distribution that is missing."""
        for dist in self.distributions:
            if not dist.installed():
                dist.install()

    def start(self) -> None:
        """Start the process unless it already runs, then wait until its probe passes."""
        pid = self.running_pid()
        if pid is not None:
            self._await_ready(pid, "already running")
        else:
            self._await_previous_reaped()
            for binding in self.ports:
                _ensure_port_free(self.name, binding)
            ensure_free_disk(self.paths.home, MIN_FREE_BYTES_TO_START, f"start {self.name}")
            self.install()
            for hook in self.prepare:
                hook()
            pid = self._spawn()
            self._await_ready(pid, "started")
        for hook in self.after_ready:
            hook()

    def stop(self) -> None:
        """Stop the process (graceful command or SIGTERM, then SIGKILL) and remove its pid file."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            logger.info("%s: not running", self.name)
            return
        logger.info("%s: stopping pid %d", self.name, pid)
        if self.stop_argv is None or not self._run_stop_command(self.stop_argv):
            _signal_group(pid, signal.SIGTERM)
        if not _wait_exit(pid, self.stop_timeout):
            logger.warning("%s: still running after %.0fs, killing", self.name, self.stop_timeout)
            _signal_group(pid, signal.SIGKILL)
            if not _wait_exit(pid, 10.0):
                raise StackError(f"{self.name}: pid {pid} survived SIGKILL; check `ps -p {pid}`")
        self.pid_file.unlink(missing_ok=True)
        logger.info("%s: stopped", self.name)

    def status(self) -> ComponentStatus:
        """``up``/``starting`` with the probe's verdict, or ``down`` (incl. a stale pid file)."""
        pid = self.running_pid()
        if pid is None:
            stale = " (stale pid file: process gone)" if self.pid_file.exists() else ""
            return ComponentStatus(self.name, "down", None, self.endpoint, f"not running{stale}")
        reason = check(self.probe)
        state = "up" if reason is None else "starting"
        return ComponentStatus(self.name, state, pid, self.endpoint, reason)

    def running_pid(self) -> int | None:
        """The pid of our live process, or ``None`` (no pid file, process gone or pid reused)."""
        try:
            pid_text, started = self.pid_file.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _start_time(pid) == started else None

    def _await_previous_reaped(self) -> None:
        """Wait (bounded) until a crashed predecessor has left the process table.

        A killed process stays a zombie until its parent (often init) reaps it, and some servers
        (Postgres, via its lock file) take a zombie for a live predecessor and refuse to start.
        """
        try:
            pid_text, started = self.pid_file.read_text().split()
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 15.0
        while _start_time(int(pid_text)) == started and time.monotonic() < deadline:
            time.sleep(0.1)

    def _spawn(self) -> int:
        for directory in (self.paths.logs, self.paths.run):
            directory.mkdir(parents=True, exist_ok=True)
        argv = list(self.argv() if callable(self.argv) else self.argv)
        with _open_log(self.log_file, argv) as log:
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.cwd,
                    env={**os.environ, **self.env},
                    start_new_session=True,
                    user=self.user,
                    group=self.user,
                    extra_groups=None if self.user is None else [],
                )
            except OSError as exc:
                raise StackError(f"{self.name}: cannot run {argv[0]}: {exc.strerror}") from exc
        _children[process.pid] = process
        self.pid_file.write_text(f"{process.pid} {_start_time(process.pid)}\n")
        logger.info("%s: started pid %d, log %s", self.name, process.pid, self.log_file)
        return process.pid

    def _await_ready(self, pid: int, how: str) -> None:
        reason = wait_until_ready(self.probe, self.start_timeout, lambda: _alive(pid))
        if reason is None:
            logger.info("%s: %s and healthy at %s", self.name, how, self.endpoint)
            return
        if not _alive(pid):
            self.pid_file.unlink(missing_ok=True)
            raise StackError(
                f"{self.name} exited during start-up; last log line: {last_line(self.log_file)!r}; "
                f"see {self.log_file}"
            )
        raise StackError(
            f"{self.name} (pid {pid}) not healthy after {self.start_timeout:.0f}s: {reason}; "
            f"see {self.log_file}"
        )

    def _run_stop_command(self, stop_argv: Sequence[str]) -> bool:
        """Run the graceful stop command; False when it could not run or failed."""
        try:
            result = subprocess.run(
                list(stop_argv),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.stop_timeout,
                check=False,
                user=self.user,
                group=self.user,
                extra_groups=None if self.user is None else [],
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("%s: stop command failed (%s); signalling instead", self.name, exc)
            return False
        if result.returncode != 0:
            output = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
            logger.warning(
                "%s: stop command exited %d (%s); signalling instead",
                self.name,
                result.returncode,
                output[-1] if output else "no output",
            )
            return False
        return True


@dataclass
class ExternalComponent:
    """An existing server used instead of ours (attach mode): checked, never started or stopped."""

    name: str
    endpoint: str
    probe: Probe
    attach_var: str
    depends_on: tuple[str, ...] = ()
    after_ready: Sequence[Callable[[], None]] = ()
    timeout: float = 10.0

    def install(self) -> None:
        """Nothing to install for a server we do not run."""

    def start(self) -> None:
        """Check the server answers (within ``timeout``), then run the ``after_ready`` hooks."""
        reason = wait_until_ready(self.probe, self.timeout)
        if reason is not None:
            raise StackError(
                f"{self.name}: {self.attach_var}={self.endpoint} is not reachable ({reason}); "
                f"start that server, or unset {self.attach_var} to run a local {self.name}"
            )
        logger.info("%s: using existing server at %s", self.name, self.endpoint)
        for hook in self.after_ready:
            hook()

    def stop(self) -> None:
        """Leave the attached server running: it is not ours."""
        logger.info("%s: attached to %s, not stopping it", self.name, self.endpoint)

    def status(self) -> ComponentStatus:
        """``external`` when reachable, ``unreachable`` otherwise."""
        reason = check(self.probe)
        state = "external" if reason is None else "unreachable"
        return ComponentStatus(self.name, state, None, self.endpoint, reason)


def ensure_free_disk(path: Path, needed: int, purpose: str) -> None:
    """Raise a :class:`StackError` unless the filesystem holding ``path`` has ``needed`` bytes."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise StackError(
            f"only {free // 2**20} MiB free on the disk holding {path}; need {needed // 2**20} MiB "
            f"to {purpose}: free some space (or point STACK_HOME elsewhere)"
        )


def last_line(path: Path) -> str:
    """The last meaningful line of a log (for one-line error messages): empty lines and Java
    stack frames (``at ...``, ``... 12 more``) are skipped."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 16384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines()]
    meaningful = [ln for ln in lines if ln and not _STACK_FRAME.match(ln)]
    return meaningful[-1] if meaningful else ""


def _ensure_port_free(name: str, binding: PortBinding) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, binding.port))
        except OSError as exc:
            attach = f", or set {binding.attach_var} to use that server" if binding.attach_var else ""
            holder = port_holder(binding.port)
            raise StackError(
                f"port {binding.port} needed by {name} is already in use by another process "
                f"({holder or exc.strerror}); set {binding.env_var} to a free port{attach}"
            ) from exc


def port_holder(port: int) -> str | None:
    """``pid 4242: python3 -m http.server 9092`` for the process listening on TCP ``port``, when
    ``/proc`` shows it (its socket in ``/proc/net/tcp*``, then the process holding that socket;
    another user's processes are visible to root only); else ``None``."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is hex "ADDR:PORT"; state 0A is LISTEN; field 9 the socket's inode
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                sockets.add(f"socket:[{fields[9]}]")
    if not sockets:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in sockets for fd in (proc / "fd").iterdir()):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                command = " ".join(a.decode(errors="replace") for a in argv if a)
                return f"pid {proc.name}: {command[:120]}"
        except OSError:
            continue
    return None


def _open_log(path: Path, argv: Sequence[str]) -> IO[bytes]:
    if path.exists() and path.stat().st_size > LOG_ROTATE_BYTES:
        path.replace(path.with_name(path.name + ".1"))
    log = path.open("ab")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    log.write(f"\n===== stack: starting at {stamp}: {' '.join(argv)}\n".encode())
    log.flush()
    return log


def _alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie; reaps our own exited children."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[19]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group ``pid`` leads (falls back to the process alone)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
