"""Gunicorn settings for the orders service: ``gunicorn -c gunicorn.conf.py``.

Port 8002 unless ``PORT`` says otherwise; the rest is the chassis' (``chassis.gunicorn``).
"""

from __future__ import annotations

import chassis.gunicorn

globals().update(chassis.gunicorn.config(service="orders", default_port=8002))
