"""Gunicorn settings for the orders service.

    gunicorn -c services/orders/gunicorn.conf.py

Environment: PORT (default 8002), WEB_CONCURRENCY (workers, default 2),
GUNICORN_TIMEOUT, GUNICORN_GRACEFUL_TIMEOUT, LOG_FORMAT (json|text).
GUNICORN_CMD_ARGS can still override anything, e.g. --bind.
"""

from __future__ import annotations

import os

wsgi_app = "orders_site.wsgi:application"
proc_name = "orders"
bind = [f"127.0.0.1:{int(os.environ.get('PORT', '8002'))}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM: stop accepting, let in-flight requests finish for this long, then exit.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Gunicorn >= 25 opens a control socket at one per-user path; the three services
# would fight over it, and nothing here uses it.
control_socket_disable = True

_log_format = os.environ.get("LOG_FORMAT", "json").strip().lower()
access_log_format = '%(h)s %(u)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "orders_site.logging.JsonFormatter"},
        "text": {"()": "orders_site.logging.TextFormatter"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "text" if _log_format == "text" else "json",
        },
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    # Gunicorn's error and access logs both reach stderr through the root handler.
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
}
