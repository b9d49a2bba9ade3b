"""Django settings for the chassis' own tests: no database, no stack."""

from __future__ import annotations

SECRET_KEY = "chassis-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "drf_spectacular",
    "chassis",
]
DATABASES: dict[str, dict[str, str]] = {}
ROOT_URLCONF = "tests.urls"
DJANGO_ENV = "development"
DEV_SUPERUSER_USERNAME = "root"
DEV_SUPERUSER_PASSWORD = "P@ssw0rd1"
REST_FRAMEWORK = {"EXCEPTION_HANDLER": "chassis.exceptions.exception_handler"}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "chassis-tests"},
    "auth-failures": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "chassis-tests-auth-failures",
    },
}
