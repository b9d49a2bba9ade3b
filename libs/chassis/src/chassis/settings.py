"""The Django settings every service shares, built from the environment.

A service's ``settings.py`` is::

    from chassis.settings import eventing_config, service_settings

    _chassis = service_settings(service="orders", app="orders", base_dir=..., database="orders",
                                api_title="Orders service API", api_description="...")
    globals().update(_chassis)

    EVENTING = eventing_config(_chassis, source="/orders", connectors=[...])
    HEALTH_CHECKS = [...]

The defaults target the local development stack (see ``infra``). With
``DJANGO_ENV=production`` the insecure defaults are refused at start-up, in every service alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from chassis.auth_conf import DEFAULTS as AUTH_DEFAULTS
from chassis.env import database_from_url, env_bool, env_int, env_list, env_str
from chassis.logging import logging_config

DEFAULT_DEV_SUPERUSER_PASSWORD = "P@ssw0rd1"
_ENVIRONMENTS = {"development", "production"}
_LOG_FORMATS = {"json", "text"}
_MIN_SECRET_KEY_LENGTH = 32


def service_settings(
    *,
    service: str,
    app: str,
    base_dir: Path,
    database: str,
    api_title: str,
    api_description: str,
    project: str | None = None,
    api_version: str = "1.0.0",
) -> dict[str, Any]:
    """Every setting the services have in common, as a dict for ``globals().update()``.

    One implementation of the security-relevant parts (production refusals, secure cookies,
    secret key checks) means a fix lands in every service at once.

    ``service`` names the service (``SERVICE_NAME``, the database ``application_name``, the
    development secret key); ``app`` is its Django app; ``project`` the Django project
    package holding ``urls`` and ``wsgi`` (default ``<service>_site``); ``base_dir`` the
    service's directory (``BASE_DIR``: static files, and the repository's contracts two levels
    up); ``database`` the database name in the default ``DATABASE_URL``; ``api_title`` and
    ``api_description`` describe the OpenAPI schema.

    Raises ``ImproperlyConfigured`` for an unknown ``DJANGO_ENV`` or ``LOG_FORMAT`` and, with
    ``DJANGO_ENV=production``, for DEBUG on, the development or a short secret key, no allowed
    hosts, or ``DEV_SUPERUSER_PASSWORD`` explicitly set to the development default.
    """
    project = project or f"{service}_site"
    settings: dict[str, Any] = {"SERVICE_NAME": service, "BASE_DIR": base_dir}

    django_env = env_str("DJANGO_ENV", "development").strip().lower()
    if django_env not in _ENVIRONMENTS:
        raise ImproperlyConfigured(f"DJANGO_ENV must be 'development' or 'production', got {django_env!r}.")
    production = django_env == "production"
    settings.update(DJANGO_ENV=django_env, PRODUCTION=production)

    insecure_secret_key = f"django-insecure-{service}-development-only"
    settings.update(
        INSECURE_SECRET_KEY=insecure_secret_key,
        SECRET_KEY=env_str("DJANGO_SECRET_KEY", "") or insecure_secret_key,
        DEBUG=env_bool("DJANGO_DEBUG", default=not production),
        ALLOWED_HOSTS=env_list("DJANGO_ALLOWED_HOSTS", [] if production else ["localhost", "127.0.0.1"]),
        CSRF_TRUSTED_ORIGINS=env_list("DJANGO_CSRF_TRUSTED_ORIGINS", []),
        DEFAULT_DEV_SUPERUSER_PASSWORD=DEFAULT_DEV_SUPERUSER_PASSWORD,
        DEV_SUPERUSER_USERNAME=env_str("DEV_SUPERUSER_USERNAME", "root"),
        DEV_SUPERUSER_PASSWORD=env_str("DEV_SUPERUSER_PASSWORD", DEFAULT_DEV_SUPERUSER_PASSWORD),
    )
    if production:
        _refuse_insecure_production(settings)

    settings.update(
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "whitenoise.runserver_nostatic",
            "django.contrib.staticfiles",
            "rest_framework",
            "rest_framework.authtoken",
            "drf_spectacular",
            "drf_spectacular_sidecar",
            "chassis",
            "eventing",
            app,
        ],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "eventing.middleware.TraceContextMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        ROOT_URLCONF=f"{project}.urls",
        WSGI_APPLICATION=f"{project}.wsgi.application",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ],
                },
            },
        ],
        DATABASES={
            "default": database_from_url(
                env_str("DATABASE_URL", f"postgresql://postgres:postgres@127.0.0.1:5432/{database}"),
                conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
                application_name=service,
            ),
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        AUTH_PASSWORD_VALIDATORS=[
            {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
            {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
            {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
            {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
        ],
        LANGUAGE_CODE="en-us",
        TIME_ZONE="UTC",
        USE_I18N=True,
        USE_TZ=True,
        STATIC_URL="static/",
        STATIC_ROOT=Path(env_str("DJANGO_STATIC_ROOT", str(base_dir / "staticfiles"))),
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {
                "BACKEND": (
                    "whitenoise.storage.CompressedManifestStaticFilesStorage"
                    if production
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"
                )
            },
        },
        # A forgotten collectstatic must not turn every admin or docs page into a 500.
        WHITENOISE_MANIFEST_STRICT=False,
        REST_FRAMEWORK={
            # Basic first: its challenge is the WWW-Authenticate header of a 401.
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "chassis.auth.CachedBasicAuthentication",
                "rest_framework.authentication.TokenAuthentication",
                "rest_framework.authentication.SessionAuthentication",
            ],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            # The API speaks JSON: a form body cannot say 3 from "3" or an empty form from a
            # body that is no object, so its schema could not say what is accepted (415 instead).
            "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
            "DEFAULT_RENDERER_CLASSES": [
                "rest_framework.renderers.JSONRenderer",
                "rest_framework.renderers.BrowsableAPIRenderer",
            ],
            "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
            "DEFAULT_PAGINATION_CLASS": "chassis.pagination.PageNumberPagination",
            "PAGE_SIZE": 100,
            "EXCEPTION_HANDLER": "chassis.exceptions.exception_handler",
        },
        SPECTACULAR_SETTINGS={
            "TITLE": api_title,
            "DESCRIPTION": api_description,
            "VERSION": api_version,
            "SERVE_INCLUDE_SCHEMA": False,
            "SWAGGER_UI_DIST": "SIDECAR",
            "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
            "REDOC_DIST": "SIDECAR",
            # Every operation's error responses, with their bodies (chassis.schema).
            "POSTPROCESSING_HOOKS": [
                "drf_spectacular.hooks.postprocess_schema_enums",
                "chassis.schema.document_error_responses",
            ],
        },
        # Per process, bounded: the default cache, and the failed-login counters (chassis.auth).
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": service},
            "auth-failures": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": f"{service}-auth-failures",
                "OPTIONS": {"MAX_ENTRIES": 10_000},
            },
        },
        CHASSIS_AUTH=auth_settings_from_env(),
        # Endpoints of the stack, for ``EVENTING`` (see ``eventing_config``).
        KAFKA_BOOTSTRAP_SERVERS=env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        SCHEMA_REGISTRY_URL=env_str("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"),
        CONNECT_URL=env_str("CONNECT_URL", "http://127.0.0.1:8083"),
        # The canonical event contracts (.avsc files), shared by all services.
        CONTRACTS_DIR=Path(env_str("CONTRACTS_DIR", str(base_dir.parents[1] / "contracts" / "avro"))),
    )

    log_format = env_str("LOG_FORMAT", "json").strip().lower()
    if log_format not in _LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', got {log_format!r}.")
    log_level = env_str("LOG_LEVEL", "INFO").strip().upper()
    settings.update(
        LOG_FORMAT=log_format,
        LOG_LEVEL=log_level,
        LOGGING=logging_config(
            formatter=log_format,
            level=log_level,
            loggers={
                # Drop Django's own console/mail handlers: one line per record, via root.
                "django": {"handlers": [], "level": log_level, "propagate": True},
                "django.server": {"handlers": [], "level": log_level, "propagate": True},
            },
        ),
    )

    if production:
        secure_cookies = env_bool("DJANGO_SECURE_COOKIES", default=True)
        settings.update(
            SECURE_CONTENT_TYPE_NOSNIFF=True,
            SESSION_COOKIE_SECURE=secure_cookies,
            CSRF_COOKIE_SECURE=secure_cookies,
        )
    return settings


def auth_settings_from_env() -> dict[str, Any]:
    """``CHASSIS_AUTH`` (see ``chassis.auth``) from the ``AUTH_*`` environment variables.

    ``AUTH_CREDENTIAL_CACHE`` (on), ``AUTH_CREDENTIAL_TTL`` (300 s), ``AUTH_USER_TTL`` (2 s:
    how late another process notices a password change or deactivation),
    ``AUTH_FAILURE_LIMIT`` (10; 0 disables the lockout), ``AUTH_FAILURE_WINDOW`` (300 s).
    """
    return {
        "CREDENTIAL_CACHE": env_bool("AUTH_CREDENTIAL_CACHE", AUTH_DEFAULTS["CREDENTIAL_CACHE"]),
        "CREDENTIAL_TTL": env_int("AUTH_CREDENTIAL_TTL", AUTH_DEFAULTS["CREDENTIAL_TTL"]),
        "USER_TTL": env_int("AUTH_USER_TTL", AUTH_DEFAULTS["USER_TTL"]),
        "FAILURE_LIMIT": env_int("AUTH_FAILURE_LIMIT", AUTH_DEFAULTS["FAILURE_LIMIT"]),
        "FAILURE_WINDOW": env_int("AUTH_FAILURE_WINDOW", AUTH_DEFAULTS["FAILURE_WINDOW"]),
    }


def _refuse_insecure_production(settings: Mapping[str, Any]) -> None:
    """Raise ``ImproperlyConfigured`` listing every development default left in production.

    All problems at once, so an operator fixes the deployment in one round.
    """
    problems = []
    if settings["DEBUG"]:
        problems.append("DJANGO_DEBUG must be off")
    secret_key = settings["SECRET_KEY"]
    if secret_key == settings["INSECURE_SECRET_KEY"] or len(secret_key) < _MIN_SECRET_KEY_LENGTH:
        problems.append("DJANGO_SECRET_KEY must be set to a secret of at least 32 characters")
    if not settings["ALLOWED_HOSTS"]:
        problems.append("DJANGO_ALLOWED_HOSTS must list the host names the service answers to")
    if (
        settings["DEV_SUPERUSER_PASSWORD"] == DEFAULT_DEV_SUPERUSER_PASSWORD
        and "DEV_SUPERUSER_PASSWORD" in os.environ
    ):
        problems.append("DEV_SUPERUSER_PASSWORD is the development default; unset it")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start with DJANGO_ENV=production: " + "; ".join(problems) + "."
        )


def eventing_config(
    settings: Mapping[str, Any],
    *,
    source: str,
    connectors: Sequence[str],
    consumer_groups: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``EVENTING`` setting: this service's part in the event flow, on the stack's endpoints.

    ``settings`` is what ``service_settings`` returned (the stack's endpoints and the
    contracts directory come from there, so they are read from the environment once);
    ``source`` is the CloudEvents source of what the service publishes and ``connectors`` the
    Debezium connectors it owns, ``consumer_groups`` the groups its consumers run (shown on the
    flow page). ``CONNECT_DATABASE_HOST`` tells a remote Connect worker how to
    reach the service's database (unset: the database host).
    """
    return {
        "SOURCE": source,
        "KAFKA_BOOTSTRAP_SERVERS": settings["KAFKA_BOOTSTRAP_SERVERS"],
        "SCHEMA_REGISTRY_URL": settings["SCHEMA_REGISTRY_URL"],
        "SCHEMA_ROOT": str(settings["CONTRACTS_DIR"]),
        "CONNECT_URL": settings["CONNECT_URL"],
        "CONNECTORS": list(connectors),
        "CONSUMER_GROUPS": list(consumer_groups),
        "CONNECT_DATABASE_HOST": env_str("CONNECT_DATABASE_HOST", "") or None,
        # Which Avro converter Connect uses for table captures, and the registry it talks to
        # (unset: derived from SCHEMA_REGISTRY_URL; APICURIO_REGISTRY_URL is the older name).
        "CONNECT_AVRO_CONVERTER": env_str("CONNECT_AVRO_CONVERTER", "apicurio"),
        "CONNECT_REGISTRY_URL": env_str("CONNECT_REGISTRY_URL", "")
        or env_str("APICURIO_REGISTRY_URL", "")
        or None,
        # The registry's public Confluent API, for ce_dataschema URLs (unset: the portable
        # urn:schema-registry:ids:<id>; decision 0011).
        "DATASCHEMA_BASE": env_str("DATASCHEMA_BASE", "") or None,
    }
