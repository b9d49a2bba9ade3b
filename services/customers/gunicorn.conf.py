"""Gunicorn settings for the customers service: ``gunicorn -c gunicorn.conf.py``.

Port 8001 unless ``PORT`` says otherwise; the rest is the chassis' (``chassis.gunicorn``).
"""

from __future__ import annotations

import chassis.gunicorn

globals().update(chassis.gunicorn.config(service="customers", default_port=8001))
