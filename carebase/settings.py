"""Carebase settings: everything that differs between machines comes from the environment."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from carebase.embedded_db import database_connections, database_from_url, embedded_database

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use true/false")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a whole number") from None


def queue_prefix(database_identity: str) -> str:
    """Redis key prefix of the job queues: named after the database they serve, so two checkouts (or a test run
    beside `make run`) sharing one Redis never run each other's jobs against the wrong database."""
    return "carebase:" + hashlib.sha1(database_identity.encode(), usedforsecurity=False).hexdigest()[:12] + ":"


def env_secret(name: str, dev_default: str) -> str:
    """A secret from the environment; the public development value only with DEBUG on (make run, the tests)."""
    value = os.environ.get(name, "")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} is unset: set it in the environment (DEBUG is off, so no public default)")
    return dev_default


DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()
# Production-safe unless told otherwise: `make run` and the tests turn DEBUG on (carebase/devserver.py, settings_dev).
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY", "dev-only-insecure-key-change-me-in-production-0123456789")
# Keys de-identification (surrogates, date shifts, pseudonyms): its own secret, so rotating SECRET_KEY moves nothing;
# never written into a data card.
DEID_SECRET = env_secret("DEID_SECRET", "dev-only-deid-secret")
ALLOWED_HOSTS = [h for h in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "carebase",  # the jobs outbox (carebase.models)
    "pgtrigger",
    "axes",
    "csp",
    "django_htmx",
    "template_partials",
    "clinic",
    "search",
    "agents",
    "cds",
]

MIDDLEWARE = [
    "carebase.health.HealthCheckMiddleware",  # /healthz, /readyz: before sessions, sign-in and the host check
    "carebase.middleware.DatabaseUnavailableMiddleware",  # first: a database that is away is a 503, never a 500
    "django.middleware.security.SecurityMiddleware",
    "clinic.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clinic.middleware.LoginRequiredMiddleware",
    "clinic.middleware.SessionIdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "carebase.urls"
WSGI_APPLICATION = "carebase.wsgi.application"

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

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": embedded_database(DATA_DIR)}
# Connections: persistent and health-checked by default; DATABASE_POOL_SIZE (psycopg's pool per process) or
# DATABASE_PGBOUNCER=true (transaction pooling in front) for many web processes on one server (docs/operations.md).
DATABASES["default"] = database_connections(
    DATABASES["default"],
    pool_size=env_int("DATABASE_POOL_SIZE", 0),
    pgbouncer=env_bool("DATABASE_PGBOUNCER", False),
    connect_timeout=env_int("DATABASE_CONNECT_TIMEOUT", 5),
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "carebase.hashers.Argon2idPasswordHasher",  # why: carebase/hashers.py
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # older hashes still verify, and are upgraded on sign-in
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "clinic.permissions.CachedPermissionsBackend"]
PERMISSION_CACHE_SECONDS = env_int("PERMISSION_CACHE_SECONDS", 10)  # a revoked role reaches other processes within this
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failures for one username from one address, that pair
# is locked out for LOGIN_LOCKOUT_MINUTES.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Sessions end after SESSION_IDLE_MINUTES without a request (clinic.middleware refreshes the expiry as people work).
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # the pages hand htmx the token in <body hx-headers>; no script reads the cookie
HTTPS = env_bool("HTTPS", False)  # behind TLS, or a proxy that sets X-Forwarded-Proto
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content Security Policy (django-csp): scripts only from this origin; inline style attributes stay allowed for the
# server-drawn SVG charts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Who reads which chart (clinic.access): a clinician whose linked Practitioner took part in one of the patient's
# encounters within CARE_TEAM_ENCOUNTER_DAYS is on the care team; break-the-glass opens a chart for BREAK_GLASS_HOURS.
CARE_TEAM_ENCOUNTER_DAYS = env_int("CARE_TEAM_ENCOUNTER_DAYS", 365)
BREAK_GLASS_HOURS = env_int("BREAK_GLASS_HOURS", 8)
BREAK_GLASS_MIN_REASON = 10
COHORT_MIN_COUNT = env_int("COHORT_MIN_COUNT", 5)  # counts-only readers (researchers) see no count below this
# Datasets: the small-cell check's k (no (age band, sex, ZIP3) combination shared by fewer patients is released)
DATASET_MIN_CELL = env_int("DATASET_MIN_CELL", 5)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic in development
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
# Upload limits: a request body (a FHIR Bundle posted to the API) and an uploaded file (admin FHIR, knowledge).
# Bodies above FHIR_INLINE_MAX_BYTES are imported on the worker, not inside the request.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("UPLOAD_MAX_BYTES", 100 * 1024 * 1024)
UPLOAD_MAX_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
FILE_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FHIR_INLINE_MAX_BYTES = env_int("FHIR_INLINE_MAX_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
PDF_MAX_PAGES = env_int("PDF_MAX_PAGES", 500)
PDF_INLINE_MAX_BYTES = env_int("PDF_INLINE_MAX_BYTES", 1024 * 1024)  # larger uploaded PDFs are read on the worker
PDF_MAX_SECONDS = env_int("PDF_MAX_SECONDS", 60)
DICOM_MAX_PIXELS = env_int("DICOM_MAX_PIXELS", 200_000_000)  # rows x columns x frames decoded for one preview

# Jobs: Celery on Redis. Where no Redis answers, services run the job in-process instead (see carebase.jobs).
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"  # JSON only: tasks take ids, never pickled objects
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # long tasks (embedding, generation): never hoard messages
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1700)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"search.tasks.*": {"queue": "embed"}, "agents.tasks.*": {"queue": "llm"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True


# A job taken by a worker that died with it (SIGKILL, OOM, power) goes back to the queue after this many seconds
# (a pool process that dies is noticed at once: CELERY_TASK_REJECT_ON_WORKER_LOST). Keep it above the longest job:
# a job still running past it is handed to a second worker too (harmless, the tasks are idempotent, but wasted).
JOB_VISIBILITY_TIMEOUT = env_int("JOB_VISIBILITY_TIMEOUT", 3600)
if JOB_VISIBILITY_TIMEOUT < 1:
    raise ImproperlyConfigured(f"JOB_VISIBILITY_TIMEOUT={JOB_VISIBILITY_TIMEOUT}: expected seconds, at least 1")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": queue_prefix(os.environ.get("DATABASE_URL") or str(DATA_DIR)),
    "visibility_timeout": JOB_VISIBILITY_TIMEOUT,
    # Workers look for such jobs every few seconds (kombu: every 10 s x a throttle of 10 by default), one small
    # sorted-set query each time.
    "unacked_restore_interval": max(1, min(10, JOB_VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1,
}
# Run jobs in the calling process instead of on a worker (tests of pure logic, or no Redis at all).
JOBS_EAGER = env_bool("JOBS_EAGER", False)
# Without a broker, jobs run in the calling process (a laptop without Redis); off (several machines, docs/operations.md),
# they wait in the outbox table until the broker answers, sent by the next enqueue or a worker's sweep.
JOBS_INLINE_WITHOUT_BROKER = env_bool("JOBS_INLINE_WITHOUT_BROKER", True)
# Workers, every WORKER_SWEEP_SECONDS: a heartbeat in Redis, the outbox sent, drafts left "running" by a dead worker
# failed (0: no sweep). A draft whose worker wrote nothing for DRAFT_LEASE_SECONDS is taken to be abandoned.
WORKER_SWEEP_SECONDS = env_int("WORKER_SWEEP_SECONDS", 10)
DRAFT_LEASE_SECONDS = env_int("DRAFT_LEASE_SECONDS", 300)

# Search and AI
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "")  # a local directory; empty = the bundled all-MiniLM-L6-v2
EMBEDDING_BACKEND = env_str("EMBEDDING_BACKEND", "auto")  # auto (fast on CPU, half on GPU) | fast | half | torch
LLM_BACKEND = env_str("LLM_BACKEND", "extractive")
LLM_MODEL = env_str("LLM_MODEL", "")
LLM_BASE_URL = env_str("LLM_BASE_URL", "")
LLM_API_KEY = env_str("LLM_API_KEY", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {
        "carebase": {"level": env_str("LOG_LEVEL", "INFO")},
        "clinic": {"level": env_str("LOG_LEVEL", "INFO")},
        "search": {"level": env_str("LOG_LEVEL", "INFO")},
        "agents": {"level": env_str("LOG_LEVEL", "INFO")},
    },
}
