"""Settings for the Likeness Registry, read from the environment only.

Two modes, chosen by ``REGISTRY_ENV``:
- ``local`` (default): safe defaults for one machine; an embedded PostgreSQL is started when no
  ``DATABASE_URL`` is given and random local secrets are kept in ``./var/local-secrets.json``.
- ``production``: every secret must come from the environment, HTTPS settings are on and
  ``manage.py check --deploy`` passes.
Bad values stop the process at start-up with a message naming the variable.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from registry.lib.env import Env, EnvError, parse_key32

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = Env()


def _fail(error: Exception) -> None:
    raise ImproperlyConfigured(f"Configuration error: {error}") from error


try:
    REGISTRY_ENV = env.choice("REGISTRY_ENV", "local", {"local", "production"})
    PRODUCTION = REGISTRY_ENV == "production"
    TESTING = "pytest" in sys.modules or env.bool("REGISTRY_TESTING", False)

    # --- Secrets -------------------------------------------------------------------------------
    if PRODUCTION:
        _local_secrets: dict[str, str] = {}
    else:
        from registry.lib.local_secrets import load_or_create

        _local_secrets = load_or_create(VAR_DIR / "local-secrets.json")

    def _secret(name: str) -> str:
        value = env.str(name) or _local_secrets.get(name)
        if not value:
            raise EnvError(f"{name} must be set in production")
        return value

    SECRET_KEY = _secret("DJANGO_SECRET_KEY")
    if PRODUCTION and len(SECRET_KEY) < 50:
        raise EnvError("DJANGO_SECRET_KEY must be at least 50 characters")
    # Encrypts the registry's Ed25519 private signing keys at rest (AES-GCM).
    REGISTRY_KEK = parse_key32("REGISTRY_KEK", _secret("REGISTRY_KEK"))
    # Encrypts reference photos that a person chose to keep (AES-GCM).
    PHOTO_ENCRYPTION_KEY = parse_key32("PHOTO_ENCRYPTION_KEY", _secret("PHOTO_ENCRYPTION_KEY"))
    # Template protection keys, "version:key" pairs; the highest version is current.
    TEMPLATE_KEYS: dict[int, bytes] = {}
    for _pair in _secret("TEMPLATE_KEYS").split(","):
        _version, _, _key = _pair.strip().partition(":")
        if not _version.isdigit() or not _key:
            raise EnvError("TEMPLATE_KEYS must look like '1:<base64 key>,2:<base64 key>'")
        TEMPLATE_KEYS[int(_version)] = parse_key32("TEMPLATE_KEYS", _key)
    # Keys the salted subject commitments in signed records and the per-organisation references.
    SUBJECT_COMMITMENT_KEY = parse_key32(
        "SUBJECT_COMMITMENT_KEY", _secret("SUBJECT_COMMITMENT_KEY")
    )
    OPAQUE_REFERENCE_KEY = parse_key32("OPAQUE_REFERENCE_KEY", _secret("OPAQUE_REFERENCE_KEY"))

    DEBUG = env.bool("DJANGO_DEBUG", False)
    if PRODUCTION and DEBUG:
        raise EnvError("DJANGO_DEBUG cannot be true in production")
    ALLOWED_HOSTS = env.list(
        "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
    )
    if PRODUCTION and not ALLOWED_HOSTS:
        raise EnvError("DJANGO_ALLOWED_HOSTS must be set in production")
    CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
    SITE_URL = env.str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

    # --- Database --------------------------------------------------------------------------------
    _database_url = env.str("DATABASE_URL")
    if _database_url:
        try:
            DATABASES = {"default": dj_database_url.parse(_database_url)}
        except ValueError as error:
            raise EnvError(f"DATABASE_URL is not a valid database URL: {error}") from None
        if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            raise EnvError("DATABASE_URL must point to PostgreSQL")
        EMBEDDED_DATABASE_DIR = None
    elif PRODUCTION:
        raise EnvError("DATABASE_URL must be set in production")
    else:
        from registry.lib.embedded_db import ensure_running

        EMBEDDED_DATABASE_DIR = Path(env.str("EMBEDDED_DATABASE_DIR", str(VAR_DIR / "pgdata")))
        _embedded = ensure_running(EMBEDDED_DATABASE_DIR)
        DATABASES = {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": _embedded.name,
                "USER": _embedded.user,
                "HOST": _embedded.host,
                "PORT": str(_embedded.port),
            }
        }
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", "test_registry")}

    # --- Celery --------------------------------------------------------------------------------
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
    # No broker: tasks run eagerly in-process, so the embedded default needs no server.
    CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
    CELERY_TASK_EAGER_PROPAGATES = True
    CELERY_TASK_SERIALIZER = "json"
    CELERY_RESULT_SERIALIZER = "json"
    CELERY_ACCEPT_CONTENT = ["json"]
    CELERY_TASK_ACKS_LATE = True
    # A task whose worker died (OOM, SIGKILL) goes back on the queue instead of being lost.
    CELERY_TASK_REJECT_ON_WORKER_LOST = True
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    # Work reports progress through status rows in the database, so results are not kept, unless
    # a result backend is configured (diagnostics and tests use one).
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND")
    CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis redelivers a message whose worker vanished after this many seconds.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
    }
    CELERY_TIMEZONE = "UTC"
    CELERY_BEAT_SCHEDULE: dict[str, dict] = {
        # Templates not confirmed for RETENTION_TEMPLATE_DAYS: remind, then purge.
        "lifecycle-retention-sweep": {"task": "lifecycle.retention_sweep", "schedule": 6 * 3600},
        # Grants whose validity ended since the last run: grant.expired webhooks.
        "consent-grants-expired": {"task": "consent.grants_expired_notify", "schedule": 300},
        # Webhook deliveries due for a retry whose Celery retry was lost (worker restarts).
        "consent-webhooks-due": {"task": "consent.webhook_deliveries_due", "schedule": 60},
        # Checks older than CHECK_DETAIL_RETENTION_DAYS: drop their per-face detail.
        "matching-check-details-drop": {"task": "matching.check_details_drop", "schedule": 86400},
        # The checks' in-memory index: rebuilt when enough templates changed or it is old.
        "matching-search-index-refresh": {"task": "matching.search_index_refresh", "schedule": 60},
    }

    # --- Webhooks ------------------------------------------------------------------------------
    # Plain http:// to 127.0.0.1/localhost endpoints, for local development and tests only.
    WEBHOOKS_ALLOW_INSECURE_LOCALHOST = env.bool("WEBHOOKS_ALLOW_INSECURE_LOCALHOST", False)
    if PRODUCTION and WEBHOOKS_ALLOW_INSECURE_LOCALHOST:
        raise EnvError("WEBHOOKS_ALLOW_INSECURE_LOCALHOST cannot be true in production")
    # First retry delay of a failed delivery; each further retry waits twice as long.
    WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", 30, minimum=1)

    # --- Enrollment and retention -----------------------------------------------------------
    ENROLLMENT_MAX_PHOTOS = env.int("ENROLLMENT_MAX_PHOTOS", 10, minimum=1)
    RETENTION_TEMPLATE_DAYS = env.int("RETENTION_TEMPLATE_DAYS", 3 * 365, minimum=1)
    # The reminder goes out this many days before the purge (the purge waits at least as long).
    RETENTION_REMINDER_DAYS = env.int("RETENTION_REMINDER_DAYS", 30, minimum=1)

    # --- Face engine and media limits --------------------------------------------------------
    FACE_ENGINE_BACKEND = env.str("FACE_ENGINE_BACKEND", "matching.engine.dlib.DlibFaceEngine")
    MAX_IMAGE_BYTES = env.int("MAX_IMAGE_BYTES", 25 * 1024 * 1024, minimum=1024)
    MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", 40_000_000, minimum=10_000)
    MAX_VIDEO_BYTES = env.int("MAX_VIDEO_BYTES", 500 * 1024 * 1024, minimum=1024)
    MAX_VIDEO_SECONDS = env.int("MAX_VIDEO_SECONDS", 600, minimum=1)

    # --- Checks -------------------------------------------------------------------------------
    # "<count>/<sec|min|hour>", or "off". Validated here so a typo stops start-up.
    CHECKS_RATE_PER_KEY = env.str("CHECKS_RATE_PER_KEY", "600/min")
    CHECKS_RATE_PER_ORGANISATION = env.str("CHECKS_RATE_PER_ORGANISATION", "3000/min")
    for _name, _rate in (
        ("CHECKS_RATE_PER_KEY", CHECKS_RATE_PER_KEY),
        ("CHECKS_RATE_PER_ORGANISATION", CHECKS_RATE_PER_ORGANISATION),
    ):
        if not re.fullmatch(r"(0|off|none|[1-9]\d*/(s|sec|second|m|min|minute|h|hour))", _rate):
            raise EnvError(f"{_name}={_rate!r} must look like '600/min' (per sec, min or hour)")
    # After this many days a check keeps its verdict, time, key and receipt, not its faces.
    CHECK_DETAIL_RETENTION_DAYS = env.int("CHECK_DETAIL_RETENTION_DAYS", 90, minimum=1)
    # Diagnostics and the naive side of bench/api_load.py: every search exact, no index.
    MATCHING_EXACT_SEARCH = env.bool("MATCHING_EXACT_SEARCH", False)
    # The checks' search of opted-out templates: "memory", a memory-mapped index kept beside
    # PostgreSQL (matching.selectors.memory_index), or "pgvector", its HNSW index in the table.
    MATCHING_INDEX = env.str("MATCHING_INDEX", "memory")
    if MATCHING_INDEX not in ("memory", "pgvector"):
        raise EnvError(f"MATCHING_INDEX={MATCHING_INDEX!r} must be 'memory' or 'pgvector'")
    # Where the index files live; every web and Celery worker of one deployment must see the
    # same directory (a shared volume when they run on several machines' disks).
    MATCHING_INDEX_DIR = Path(env.str("MATCHING_INDEX_DIR", str(VAR_DIR / "matching-index")))
    # The index is rebuilt when this many templates changed since its build (they are compared
    # exactly on every check until then), or when it is older than MATCHING_INDEX_MAX_AGE_S.
    MATCHING_INDEX_REBUILD_CHANGES = env.int("MATCHING_INDEX_REBUILD_CHANGES", 5000, minimum=1)
    MATCHING_INDEX_MAX_AGE_S = env.int("MATCHING_INDEX_MAX_AGE_S", 6 * 3600, minimum=60)

    # --- Email ---------------------------------------------------------------------------------
    EMAIL_HOST = env.str("EMAIL_HOST")
    if EMAIL_HOST:
        EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        EMAIL_PORT = env.int("EMAIL_PORT", 587, minimum=1)
        EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
        EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
        EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", True)
    else:
        EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Likeness Registry <no-reply@localhost>")

    # --- Cache ---------------------------------------------------------------------------------
    _cache_url = env.str("CACHE_URL")
    if _cache_url:
        if not _cache_url.startswith(("redis://", "rediss://")):
            raise EnvError("CACHE_URL must be a redis:// URL")
        CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": _cache_url,
            }
        }
    else:
        CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
except EnvError as _error:
    _fail(_error)


# --- Django --------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "registry",
    "consent",
    "matching",
    "lifecycle",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "registry.urls"
WSGI_APPLICATION = "registry.wsgi.application"
ASGI_APPLICATION = "registry.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "registry.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/me/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "/static/"
# Locally WhiteNoise serves straight from the apps (see WHITENOISE_USE_FINDERS below).
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(VAR_DIR / "static"))) if PRODUCTION else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Locally, static files are served straight from the apps without collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = VAR_DIR / "media"
# Uploads larger than this are streamed to a temporary file instead of held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# JSON bodies (e.g. 100 precomputed embeddings) stay far below this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security ------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- API -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "registry.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "registry.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "registry.api.exceptions.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "registry.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "Likeness Registry API",
    "DESCRIPTION": (
        "Consent and likeness-rights registry: signed, revocable opt-outs and consent grants, "
        "a verifiable transparency log, and media checks for platforms."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the assurance levels wherever a field uses them (policy, answers, matches).
    "ENUM_NAME_OVERRIDES": {
        "AssuranceLevelEnum": "registry.models.AssuranceLevel",
        "RegistrationStatusEnum": "registry.models.RegistrationStatus",
    },
}

# --- Logging: structured, and never personal data (callers log ids, not names or emails) -------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
    },
}
