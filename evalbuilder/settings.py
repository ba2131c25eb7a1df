"""Settings, read from the environment (see .env.example and the README's configuration table).

With nothing set, evalbuilder runs on a SQLite file and a filesystem broker under var/,
which is what `manage.py quickstart` uses. Production sets DATABASE_URL (PostgreSQL) and
CELERY_BROKER_URL (Redis).
"""

import datetime
import os
import secrets
from pathlib import Path

import environ
from csp.constants import NONE, SELF

from evalbuilder.broker import filesystem_transport_options

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Everything a local installation writes (database, broker queues, secret key) lives here.
VAR_DIR = Path(env("EVALBUILDER_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A per-installation key kept in var/, so a laptop needs no configuration."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=None) or _local_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First, so that its account templates (password change) replace the admin's.
    "evalbuilder",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "audit",
    "occupations",
    "runs",
    "graders",
    "reports",
    "interop",
]

MIDDLEWARE = [
    "evalbuilder.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "evalbuilder.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Refuses an upload declared larger than its form's cap before its body is read.
    "evalbuilder.uploads.UploadSizeLimitMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages (an ended session says why) and before the code step: an ended session
    # goes back to signing in, not to the code step.
    "evalbuilder.middleware.SessionTimeoutMiddleware",
    "evalbuilder.middleware.TwoStepSignInMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a lockout raised during sign-in into its answer.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username and address is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "evalbuilder.urls"
WSGI_APPLICATION = "evalbuilder.wsgi.application"

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'evalbuilder.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # The web server, the worker and beat write to one file: WAL lets readers go on
        # while one writes, IMMEDIATE transactions queue writers instead of failing them.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so that worker processes started by tests see the test data;
    # one per test process, so that two test runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("EVALBUILDER_PASSWORD_MIN_LENGTH", default=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in -------------------------------------------------------------------------
# Proxies in front of the application (each adds to X-Forwarded-For); 0 when clients connect
# directly. Lockouts and the audit trail use the address this gives.
EVALBUILDER_TRUSTED_PROXIES = env.int("EVALBUILDER_TRUSTED_PROXIES", default=0)
# X-Forwarded-For is read only from a peer in these networks (the proxies' own addresses), so
# a client reaching the server directly cannot choose its address.
EVALBUILDER_TRUSTED_PROXY_NETWORKS = env.list(
    "EVALBUILDER_TRUSTED_PROXY_NETWORKS",
    default=[
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    ],
)
# Failed sign-ins from one address for one username, after which both are refused for the
# cool-off period, even with the right password.
AXES_FAILURE_LIMIT = env.int("EVALBUILDER_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(
    minutes=env.int("EVALBUILDER_LOGIN_COOLOFF_MINUTES", default=15)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Failures while locked out do not restart the cool-off: otherwise anyone could keep an admin
# locked out for ever by trying a password every few minutes.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Cleared when the whole sign-in succeeds, one-time code included (evalbuilder.mfa), not by
# the password alone: a wrong code counts as a failure too.
AXES_RESET_ON_SUCCESS = False
# The lockout page (HTTP 429): username and address locked for the cool-off period.
AXES_LOCKOUT_CALLABLE = "evalbuilder.mfa_views.locked_out"
# The client's address, an IPv6 client counted by its /64 (the audit trail keeps the address).
AXES_CLIENT_IP_CALLABLE = "evalbuilder.client_address.lockout_address"
AXES_USERNAME_CALLABLE = "evalbuilder.mfa.lockout_username"
AXES_VERBOSE = False
# Never written to django-axes' logs of attempts: one-time codes, besides its own defaults.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code"]
# Sessions end after this long without a request, and this long after signing in whatever.
EVALBUILDER_SESSION_IDLE_SECONDS = env.int("EVALBUILDER_SESSION_IDLE_SECONDS", default=30 * 60)
EVALBUILDER_SESSION_ABSOLUTE_SECONDS = env.int(
    "EVALBUILDER_SESSION_ABSOLUTE_SECONDS", default=12 * 60 * 60
)
SESSION_COOKIE_AGE = EVALBUILDER_SESSION_ABSOLUTE_SECONDS
# Operators and admins must confirm each sign-in with a one-time code (TOTP); anyone else
# may choose to (/accounts/mfa/), and then must too.
EVALBUILDER_MFA_REQUIRED = env.bool("EVALBUILDER_MFA_REQUIRED", default=True)
OTP_TOTP_ISSUER = env("EVALBUILDER_MFA_ISSUER", default="evalbuilder")
# The admin shows neither an app's secret key nor its QR code, nor recovery codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Setting up, removing or replacing an app, and new recovery codes, only this soon after the
# password: a session left open, or stolen, cannot change the second step.
EVALBUILDER_MFA_RECENT_SIGN_IN_SECONDS = env.int(
    "EVALBUILDER_MFA_RECENT_SIGN_IN_SECONDS", default=10 * 60
)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "occupations:my_tasks"
LOGOUT_REDIRECT_URL = "reports:home"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders when collectstatic has not been run (quickstart).
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- Security headers ------------------------------------------------------------------
# The same in development as in production, so a page that breaks a rule breaks on a laptop
# first. HTTPS-only pieces (redirect, HSTS, secure cookies) are in settings_production.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Cookies travel over HTTPS only when the site is served over HTTPS.
SESSION_COOKIE_SECURE = env.bool("EVALBUILDER_HTTPS", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Everything from our own origin, no inline script or style anywhere: markup injected into a
# page can neither run nor restyle it. Views that need more widen it for themselves
# (csp.decorators.csp_update), and a response that sets its own policy keeps it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Small images inlined in style sheets as data: URLs (Swagger UI's icons).
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Celery -------------------------------------------------------------------------
# With no broker configured, a filesystem broker under var/ lets a laptop run a real
# worker and beat with no server at all.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_transport_options(
        Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
    )
else:
    # Kept well above the longest task, so an unacknowledged message is not redelivered
    # while its first worker is still busy with it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True  # progress lives in the database, not in a result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # Restarts runs gone silent: a lost message, a dead worker on a broker that does not
    # redeliver. EVALBUILDER_STALL_SECONDS says how long silence must last.
    "watch runs": {
        "task": "runs.tasks.watch_runs",
        "schedule": env.float("EVALBUILDER_WATCH_SECONDS", default=60.0),
    },
    "watch grading": {
        "task": "graders.tasks.watch_grading",
        "schedule": env.float("EVALBUILDER_WATCH_SECONDS", default=60.0),
    },
}
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- Cache ---------------------------------------------------------------------------
# Report figures are cached whole, keyed by the version of the results they were built from
# (reports.selectors). Local memory per process by default; REPORTS_CACHE_URL (a redis://
# URL) shares them between processes.
REPORTS_CACHE_URL = env("REPORTS_CACHE_URL", default="")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REPORTS_CACHE_URL}
        if REPORTS_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "evalbuilder"}
    )
}
CACHES["default"]["KEY_PREFIX"] = "evalbuilder"
# Upper bound on how long report figures are kept: employment figures and published-task
# counts are read live and are not part of the results version.
REPORTS_CACHE_SECONDS = env.int("REPORTS_CACHE_SECONDS", default=600)

# --- Evaluation -------------------------------------------------------------------
# Fewest model calls per chunk task (a chunk also holds five rounds of the endpoint's
# max_concurrency). A run samples one chunk at a time; runs sample in parallel.
EVALBUILDER_CHUNK_SIZE = env.int("EVALBUILDER_CHUNK_SIZE", default=20)
# A chunk stops taking new calls after this many seconds and hands the rest to the next
# chunk, so every task stays well inside the soft time limit and the broker's visibility
# timeout (after which an unacknowledged task would be delivered a second time).
EVALBUILDER_CHUNK_SECONDS = env.float("EVALBUILDER_CHUNK_SECONDS", default=240.0)
# A running run with no sign of life for this long is restarted by the watchdog.
EVALBUILDER_STALL_SECONDS = env.int("EVALBUILDER_STALL_SECONDS", default=300)
EVALBUILDER_MAX_ATTEMPTS = env.int("EVALBUILDER_MAX_ATTEMPTS", default=4)
EVALBUILDER_REQUEST_TIMEOUT = env.float("EVALBUILDER_REQUEST_TIMEOUT", default=120.0)
EVALBUILDER_RETRY_BASE_DELAY = env.float("EVALBUILDER_RETRY_BASE_DELAY", default=1.0)
EVALBUILDER_RETRY_MAX_DELAY = env.float("EVALBUILDER_RETRY_MAX_DELAY", default=60.0)
# Batch runs: seconds between two polls of a provider batch (keep it well under STALL_SECONDS).
EVALBUILDER_BATCH_POLL_SECONDS = env.float("EVALBUILDER_BATCH_POLL_SECONDS", default=60.0)
# Most requests in one provider batch; more are split over several (providers cap bytes too).
EVALBUILDER_BATCH_MAX_ITEMS = env.int("EVALBUILDER_BATCH_MAX_ITEMS", default=10_000)
# Held-out tasks go through batch APIs, whose request files providers keep, only when true.
EVALBUILDER_BATCH_HELD_OUT = env.bool("EVALBUILDER_BATCH_HELD_OUT", default=False)

# Authoring: independent approvals a task needs, the shortest instructions accepted, the
# largest attachment, and what calibration demands of the reference and of an empty answer.
EVALBUILDER_REQUIRED_APPROVALS = max(1, env.int("EVALBUILDER_REQUIRED_APPROVALS", default=2))
EVALBUILDER_MIN_INSTRUCTIONS_CHARS = env.int("EVALBUILDER_MIN_INSTRUCTIONS_CHARS", default=200)
EVALBUILDER_MAX_ATTACHMENT_BYTES = env.int(
    "EVALBUILDER_MAX_ATTACHMENT_BYTES", default=10 * 1024 * 1024
)
# The largest JSON Lines file of tasks an author may import.
EVALBUILDER_MAX_IMPORT_BYTES = env.int("EVALBUILDER_MAX_IMPORT_BYTES", default=20 * 1024 * 1024)
# Official taxonomy files (an O*NET text release as a zip) and Inspect eval logs.
EVALBUILDER_MAX_TAXONOMY_BYTES = env.int("EVALBUILDER_MAX_TAXONOMY_BYTES", default=50 * 1024 * 1024)
EVALBUILDER_MAX_EVAL_LOG_BYTES = env.int("EVALBUILDER_MAX_EVAL_LOG_BYTES", default=50 * 1024 * 1024)
# What an eval log may unpack to (Inspect compresses its members), counted while unpacking.
EVALBUILDER_MAX_EVAL_LOG_UNPACKED_BYTES = env.int(
    "EVALBUILDER_MAX_EVAL_LOG_UNPACKED_BYTES", default=4 * EVALBUILDER_MAX_EVAL_LOG_BYTES
)
# What an XLSX or DOCX may unpack to, counted while unpacking (archive bombs).
EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES = env.int(
    "EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES", default=50 * 1024 * 1024
)
EVALBUILDER_CALIBRATION_EMPTY_MAX = env.float("EVALBUILDER_CALIBRATION_EMPTY_MAX", default=0.1)
# A passing calibration of the current text is a condition of submission (needs a grader).
EVALBUILDER_REQUIRE_CALIBRATION = env.bool("EVALBUILDER_REQUIRE_CALIBRATION", default=True)
# Grader validation against experts: a grader passes when its macro-F1 against the experts
# is at most this far below the experts' macro-F1 against each other.
EVALBUILDER_VALIDATION_MARGIN = env.float("EVALBUILDER_VALIDATION_MARGIN", default=0.05)
# Fewer samples graded by at least two experts than this cannot validate a grader.
EVALBUILDER_VALIDATION_MIN_SAMPLES = env.int("EVALBUILDER_VALIDATION_MIN_SAMPLES", default=20)
# Only validated graders' scores may enter an official release.
EVALBUILDER_RELEASE_REQUIRES_VALIDATION = env.bool(
    "EVALBUILDER_RELEASE_REQUIRES_VALIDATION", default=True
)

# --- Official releases ------------------------------------------------------------
# Figures based on fewer tasks than this are suppressed (disclosure control).
EVALBUILDER_DISCLOSURE_MIN_TASKS = env.int("EVALBUILDER_DISCLOSURE_MIN_TASKS", default=5)
# Who publishes the releases, and under which licence (an SPDX id), in every export.
EVALBUILDER_PUBLISHER = env("EVALBUILDER_PUBLISHER", default="evalbuilder")
EVALBUILDER_RELEASE_LICENCE = env("EVALBUILDER_RELEASE_LICENCE", default="CC-BY-4.0")
# The site's public address: every absolute link in exported files, catalogue records and
# API answers starts with it (the same link wherever it is read). Set it in production.
EVALBUILDER_PUBLIC_URL = env("EVALBUILDER_PUBLIC_URL", default="http://127.0.0.1:8000")
# A Unicode TrueType font for PDF reports (its bold beside it as <name>-Bold.ttf); by default
# DejaVu Sans where installed, else the core Helvetica (Western European characters only).
EVALBUILDER_PDF_FONT = env("EVALBUILDER_PDF_FONT", default="")

# The read-only API: public aggregates and approved releases for anyone; drafts need a token
# (or a session) of a user who may see them.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "evalbuilder API",
    "DESCRIPTION": "Read-only access to official releases and public report aggregates.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from the public validator: it would leak the schema's address off site.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Each file is counted as it streams in and dropped once over its form's cap
# (EVALBUILDER_MAX_ATTACHMENT_BYTES, EVALBUILDER_MAX_IMPORT_BYTES), before the handlers
# after it buffer or spool it; a request whose Content-Length is over the cap is not read.
FILE_UPLOAD_HANDLERS = [
    "evalbuilder.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# No form takes more than one file; a request with more than a few is refused unread.
DATA_UPLOAD_MAX_NUMBER_FILES = 5
# A rubric of 40 criteria is under 400 fields; a suite sends one field per chosen version.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # PDF reports subset their font; its per-glyph notes are noise.
        "fontTools": {"level": "WARNING"},
    },
}
