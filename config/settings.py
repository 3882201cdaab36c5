"""Settings of the survey platform. Every value a deployment may change is read from the environment;
docs/operations.md lists them all."""

from __future__ import annotations

import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_int_or_word, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)

_DEV_SECRET = "insecure-development-key-never-use-in-production-0123456789abcdef"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Set it to a long random string, or set DJANGO_DEBUG=1 for local work."
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Where the survey lives for links it prints (invite links in the admin and the demo).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "survey",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "survey.api.no_store.ParticipantApiNoStoreMiddleware",  # outermost but one: also marks refusals below
    "survey.http_limits.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "survey.security.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login attempt itself
]

# Admin logins are throttled by django-axes: after SURVEY_ADMIN_LOGIN_ATTEMPTS failures for one user name
# from one address, that pair is locked out for SURVEY_ADMIN_LOCKOUT_MINUTES (a success resets the count).
# Keying on the pair means nobody can lock a coordinator out from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("SURVEY_ADMIN_LOGIN_ATTEMPTS", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("SURVEY_ADMIN_LOCKOUT_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # its start-up banner, printed by every process (each command, worker and test process)

# Coordinators' background jobs (filling the pool from a checkpoint, XLSX exports) go through the backport of
# Django 6's tasks framework with its database backend: the queue is a table in the study's own database
# (SQLite or PostgreSQL), and `manage.py db_worker` runs them where torch is (survey/tasks.py).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Generator checkpoints a coordinator may pick on the "Fill the pool" page, beside the bundled demo model.
SURVEY_CHECKPOINT_DIR = env_str("SURVEY_CHECKPOINT_DIR", "")
# A running job whose worker has reported nothing for this long is taken for lost (the worker was killed or
# its machine restarted) and marked failed, so it neither spins on its page nor blocks the next recompute.
# Every job reports at its start and at each step; the longest step (one spreadsheet) takes well under it.
SURVEY_JOB_SILENT_AFTER_S = env_int("SURVEY_JOB_SILENT_AFTER_S", 900, minimum=60)
# The bundled phantom models: the variable generator.bundled reads too, read here because the web tier
# lists the bundled checkpoint without importing the generator.
GENERATOR_MODELS_DIR = Path(env_str("GENERATOR_MODELS_DIR", "") or BASE_DIR / "fixtures" / "models").expanduser()

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
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
]

# SQLite is the embedded default; DATABASE_URL (postgres://user@host:port/name) selects PostgreSQL.
VAR_DIR = Path(env_str("SURVEY_VAR_DIR", str(BASE_DIR / "var")))
# Connections are kept (a new PostgreSQL connection is a new server process: it costs more than the
# request) and checked before reuse, so a database restart costs one retry, not a 500.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'survey.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A forgotten DATABASE_URL must not give every web host its own silent SQLite file: production settings
    # refuse SQLite unless it is chosen on purpose (one host: scripts/demo, a single-container study).
    if not DEBUG and not env_bool("SURVEY_ALLOW_SQLITE", False):
        raise ImproperlyConfigured(
            "DATABASE_URL is not set, so the database would be a SQLite file of this host alone. Set "
            "DATABASE_URL=postgres://... (every web host the same), or SURVEY_ALLOW_SQLITE=1 for one host."
        )
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # Waiting for the write lock beats failing a participant's answer with "database is locked".
            "timeout": 20,
            # Every transaction takes the write lock when it begins, so it waits (timeout above) instead of
            # failing at once when it upgrades from reading to writing while another process writes.
            "transaction_mode": "IMMEDIATE",
            # WAL: readers never block the writer nor the writer the readers. synchronous stays FULL: an
            # acknowledged answer survives a power cut too (NORMAL could lose the last commits).
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT: Path | str = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))  # str in settings_test
# Local runs serve app static files straight from the apps; deployments run collectstatic (Dockerfile).
WHITENOISE_USE_FINDERS = DEBUG
# The image bank lives in its own storage (survey/storage.py): a folder of this host by default, or an
# S3-compatible bucket (django-storages) that every web host reads and every import writes.
IMAGE_BANK_BUCKET = env_str("SURVEY_IMAGE_BANK_BUCKET", "").strip()
if IMAGE_BANK_BUCKET:
    _addressing = env_str("SURVEY_IMAGE_BANK_ADDRESSING", "auto").strip().lower()
    if _addressing not in ("auto", "path", "virtual"):
        raise ImproperlyConfigured(f"SURVEY_IMAGE_BANK_ADDRESSING={_addressing!r} is not auto, path or virtual.")
    _image_bank_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": IMAGE_BANK_BUCKET,
            "location": env_str("SURVEY_IMAGE_BANK_PREFIX", "image-bank").strip("/"),
            "endpoint_url": env_url("SURVEY_IMAGE_BANK_ENDPOINT_URL", "", schemes=("http", "https")) or None,
            "region_name": env_str("SURVEY_IMAGE_BANK_REGION", "") or None,
            # MinIO and other stores on a host name of their own want "path" (bucket in the URL's path).
            "addressing_style": None if _addressing == "auto" else _addressing,
            "default_acl": None,  # private objects: the bank is never public; only survey views hand images out
            "querystring_auth": True,
            "file_overwrite": True,  # content-addressed: the same name is the same bytes
            # Credentials: boto3's own (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, an instance role, ...).
        },
    }
else:
    _image_bank_storage = {"BACKEND": "survey.storage.ImageBankFileStorage"}  # under IMAGE_BANK_ROOT
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "image_bank": _image_bank_storage,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# The image bank: normalised portraits stored under their content hash. Never served as a public
# folder; only survey views hand images out, to the participant they were shown to.
IMAGE_BANK_ROOT = Path(env_str("SURVEY_IMAGE_BANK_ROOT", str(VAR_DIR / "image-bank")))
# The one pipeline every portrait passes through (survey/imaging.py). 512 px stays sharp where the quiz
# shows a face (about 420 CSS px on a laptop, the diagnosis portrait larger); it applies to new imports.
SURVEY_IMAGE_SIZE = env_int("SURVEY_IMAGE_SIZE", 512, minimum=32)
SURVEY_IMAGE_QUALITY = env_int("SURVEY_IMAGE_QUALITY", 90, minimum=50)
# Every delivered image is padded with zero bytes, so download sizes do not tell real from synthetic
# (manage.py audit_leakage checks the result). "auto" (None here): to the study's own size, the largest
# portrait of its bank when it was frozen (survey/delivery.py); a number: to a multiple of that many bytes;
# 0: off.
SURVEY_IMAGE_PAD_BYTES = env_int_or_word("SURVEY_IMAGE_PAD_BYTES", "auto", word="auto", minimum=0)

# Portrait uploads through the API send many files at once.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("SURVEY_UPLOAD_MAX_FILES", 1000, minimum=1)

# The cache (the invite rate limit's counters): this process's memory by default, which each worker of
# each host keeps for itself; with several web hosts or workers, a Redis every host shares.
CACHE_URL = env_url("SURVEY_CACHE_URL", "", schemes=("redis", "rediss", "unix"))
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL, "KEY_PREFIX": "survey"}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# How many proxies (load balancer, TLS terminator) stand in front of the web hosts and append the address
# they received from to X-Forwarded-For: the client is the entry that many places from the right. 0: the
# address the connection came from (REMOTE_ADDR). Set it to exactly the number of proxies you run: one more
# and a client can forge its address, one fewer and every client shares the proxy's.
SURVEY_TRUSTED_PROXIES = env_int("SURVEY_TRUSTED_PROXIES", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "survey.security.axes_client_address"  # admin login throttling: the same address

# Which clock stamps served, delivered, clock-start and answer times: the database's ("database": on
# PostgreSQL every web host reads one clock; SQLite is one host, so its Python clock is that clock) or this
# process's ("python": the test suite, whose time is moved with time_machine). Not an environment variable:
# a deployment always uses the database's.
SURVEY_CLOCK = "database"

SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_COOKIE_AGE", 60 * 60 * 24 * 14, minimum=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Production hardening: on by default unless DEBUG, each overridable (e.g. behind a TLS proxy on loopback).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # JSON bodies are bounded in size and nesting (400, not a 500); forms and multipart stay for uploads.
    "DEFAULT_PARSER_CLASSES": [
        "survey.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "survey.api.schema.SurveyAutoSchema",
    # The domain's refusals (survey/services/errors.py) become one status and body each, wherever they are raised.
    "EXCEPTION_HANDLER": "survey.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
}
# Uses of invite tokens (page and API, valid or not) per client address: tokens are unguessable, and the
# limit stops anyone from trying many of them quickly.
SURVEY_INVITE_RATE = env_str("SURVEY_INVITE_RATE", "30/minute")
if not re.fullmatch(r"\d+/(second|minute|hour|day)", SURVEY_INVITE_RATE):
    raise ImproperlyConfigured(
        f"SURVEY_INVITE_RATE={SURVEY_INVITE_RATE!r} is not like 30/minute (second, minute, hour, day)."
    )
SPECTACULAR_SETTINGS = {
    "TITLE": "Synthetic-portrait study platform API",
    "DESCRIPTION": "Participant API (bearer token from POST /api/participant/sessions/) and coordinator API "
    "(staff token: `Authorization: Token <key>`).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this site: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Path parameters say what the URL patterns accept, so a value the schema allows reaches the API (not
    # Django's HTML 404 for an unknown URL).
    "PATH_CONVERTER_OVERRIDES": {
        "int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
        "str": {"type": "string", "pattern": "^[^/]+$"},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
