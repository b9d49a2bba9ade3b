from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

import eventing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "points_site.settings")

application = get_wsgi_application()

# Resolve (register) event schema ids before the first request: publishing inside a
# request's transaction is then CPU-only, and a registry problem fails start-up loudly.
eventing.startup()
