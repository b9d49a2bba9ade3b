"""Django settings for the eventing library's own tests."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent

# One id per test session (inherited by consumer subprocesses): every topic and subject the
# session creates has it in its name, so runs against a persistent Kafka never see each
# other's events and the session deletes exactly what it made (tests/integration/conftest.py).
SESSION = os.environ.setdefault("EVENTING_TESTS_SESSION", uuid.uuid4().hex[:8])
os.environ.setdefault("EVENTING_TESTS_TOPIC", f"eventing_tests_accounts_{SESSION}")
# The backlog topic of the rebalance tests (a consumer per process, several per group).
os.environ.setdefault("EVENTING_TESTS_BULK_TOPIC", f"eventing_tests_bulk_{SESSION}")


def scratch_topic(kind: str) -> str:
    """A topic name of this session, unique to its caller."""
    return f"eventing_tests_{kind}_{SESSION}_{uuid.uuid4().hex[:6]}"


_db = urlsplit(
    os.environ.get(
        "EVENTING_TEST_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/eventing_tests"
    )
)

SECRET_KEY = "eventing-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.admin",  # the library's admin actions are tested
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.messages",
    "django.contrib.sessions",
    "eventing",
    "tests.testapp",
]
# What the admin app needs (its system checks run before every management command).
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "127.0.0.1",
        "PORT": _db.port or 5432,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EVENTING = {
    "SOURCE": "/eventing-tests",
    "SCHEMA_ROOT": str(HERE / "schemas"),
    "KAFKA_BOOTSTRAP_SERVERS": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    "SCHEMA_REGISTRY_URL": os.environ.get("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"),
    "CONNECT_URL": os.environ.get("CONNECT_URL", "http://127.0.0.1:8083"),
    "CONSUMER_BACKOFF_INITIAL": 0.05,
    "CONSUMER_BACKOFF_MAX": 0.2,
    "CONSUMER_MAX_ATTEMPTS": 3,
    "CONSUMER_POLL_TIMEOUT": 0.1,
    "CONSUMER_BATCH_SIZE": int(os.environ.get("EVENTING_TEST_BATCH_SIZE", "500")),
    # Extra librdkafka settings for consumer subprocesses (e.g. the group protocol under test).
    "KAFKA_CONFIG": json.loads(os.environ.get("EVENTING_TEST_KAFKA_CONFIG", "{}")),
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"eventing": {"handlers": ["console"], "level": "WARNING"}},
}
