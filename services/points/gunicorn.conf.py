"""Gunicorn settings for the points service: ``gunicorn -c gunicorn.conf.py``.

Port 8003 unless ``PORT`` says otherwise; the rest is the chassis' (``chassis.gunicorn``).
"""

from __future__ import annotations

import chassis.gunicorn

globals().update(chassis.gunicorn.config(service="points", default_port=8003))
