"""Gunicorn settings for a service; its ``gunicorn.conf.py`` is::

    import chassis.gunicorn

    globals().update(chassis.gunicorn.config(service="customers", default_port=8001))

(Not ``from chassis.gunicorn import config``: gunicorn reads every global of its config file
whose name is a setting, and ``config`` is one, the path of the config file.)

Environment: ``PORT`` (default ``default_port``), ``WEB_CONCURRENCY`` (workers, default 2),
``GUNICORN_TIMEOUT``, ``GUNICORN_GRACEFUL_TIMEOUT``, ``LOG_FORMAT`` (json|text).
``GUNICORN_CMD_ARGS`` can still override anything, e.g. ``--bind``.
``PROMETHEUS_MULTIPROC_DIR``: where the workers keep their metrics (default: a directory per
service and port under the system's temporary directory), emptied when gunicorn starts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from chassis.logging import logging_config


def config(*, service: str, default_port: int, project: str | None = None) -> dict[str, Any]:
    """Gunicorn's settings for ``service``, as names for the config file's globals.

    Every service is served the same way: on the loopback interface (a proxy or the local
    stack sits in front), with graceful shutdown on SIGTERM and the chassis' log formatters,
    so web server lines look like the application's. ``project`` is the Django project
    package holding ``wsgi.py`` (default ``<service>_site``).
    """
    project = project or f"{service}_site"
    port = int(os.environ.get("PORT", str(default_port)))
    metrics_dir = metrics_directory(service, port)
    log_format = os.environ.get("LOG_FORMAT", "json").strip().lower()
    return {
        "wsgi_app": f"{project}.wsgi:application",
        "proc_name": service,
        "bind": [f"127.0.0.1:{port}"],
        "workers": int(os.environ.get("WEB_CONCURRENCY", "2")),
        "timeout": int(os.environ.get("GUNICORN_TIMEOUT", "30")),
        # SIGTERM: stop accepting, let in-flight requests finish for this long, then exit.
        "graceful_timeout": int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30")),
        "keepalive": 5,
        # Gunicorn >= 25 opens a control socket at one per-user path; the services would
        # fight over it, and nothing here uses it.
        "control_socket_disable": True,
        # Metrics of every worker, summed by /metrics (prometheus_client's multiprocess mode).
        "raw_env": [f"PROMETHEUS_MULTIPROC_DIR={metrics_dir}"],
        "on_starting": lambda _server: reset_metrics_directory(metrics_dir),
        "child_exit": lambda _server, worker: _mark_worker_dead(worker.pid),
        "access_log_format": '%(h)s %(u)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"',
        "logconfig_dict": logging_config(
            formatter="text" if log_format == "text" else "json",
            level="INFO",
            # Gunicorn's error and access logs both reach stderr through the root handler.
            loggers={
                "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
                "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
            },
        ),
    }


def metrics_directory(service: str, port: int) -> Path:
    """``PROMETHEUS_MULTIPROC_DIR`` of the workers: the environment's, else one per service+port.

    Gunicorn sets it (``raw_env``) in the master before any worker imports
    ``prometheus_client``, which reads it at import: each worker then writes its values to
    files there, and ``/metrics`` (any worker) sums them, so a scrape sees the whole server,
    not one worker.
    """
    default = Path(tempfile.gettempdir()) / f"eventing-metrics-{service}-{port}"
    return Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or default)


def reset_metrics_directory(directory: Path) -> None:
    """Empty the metrics directory: values of a previous server run must not be summed in."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def _mark_worker_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
