"""Settings for the OKX team dashboard, driven by environment variables (see .env.example).

Defaults give the embedded mode: SQLite and a private Redis under var/, secrets generated once
into var/, the site on localhost over plain HTTP. A deployment (DATABASE_URL set, EMBEDDED unset)
must provide every secret; nothing secret has a production default. DEBUG is off unless a
developer sets DEBUG=1: Django's debug pages show the URL map and echo posted form data.
"""

from __future__ import annotations

import os
from datetime import timedelta

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from accounts.sso.config import check_oidc_settings, local_passwords_mode, parse_role_map
from dashboard.runtime.embedded import BASE_DIR, VAR_DIR, generate_secret_key, local_secret
from dashboard.runtime.env import env_bool, env_int, env_list, env_str, require

DEBUG = env_bool("DEBUG", False)
DATABASE_URL = env_str("DATABASE_URL")
# The embedded mode (no DATABASE_URL, or EMBEDDED=1 as the launcher sets for `make demo` and
# `make test`): local secrets under var/, localhost, plain HTTP. Otherwise a deployment.
EMBEDDED = env_bool("EMBEDDED", not DATABASE_URL)

SECRET_KEY = env_str("SECRET_KEY") or ""
FERNET_KEYS = env_list("FERNET_KEYS")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if EMBEDDED:
    SECRET_KEY = SECRET_KEY or local_secret("secret_key", generate_secret_key)
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["localhost", "127.0.0.1", "[::1]", "testserver"]
else:
    _DEPLOYED = "outside the embedded mode (DATABASE_URL is set)"
    require("SECRET_KEY", SECRET_KEY, _DEPLOYED)
    require("FERNET_KEYS", FERNET_KEYS, f"{_DEPLOYED}: comma-separated Fernet keys, newest first")
    require("ALLOWED_HOSTS", ALLOWED_HOSTS, f"{_DEPLOYED}: comma-separated host names")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "knox",  # API tokens, stored as SHA-512 digests and shown once (replaces rest_framework.authtoken)
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the dashboard itself (no CDN)
    "csp",
    # Two-factor authentication (accounts/mfa): django-otp, its authenticator-app (TOTP) and
    # recovery-code devices.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # The product's apps, lowest layer first (docs/architecture.md).
    "accounts",
    "accounts.mfa",  # two-factor authentication: the code step, enrolment, who must have it
    "snapshots",
    "ledger",  # cash flows and PnL net of them (above snapshots, below alerts and reports)
    "alerts",
    "reports",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files keep their long cache; every other response is no-store.
    "dashboard.cachecontrol.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Two-factor authentication: request.user.is_verified() (django-otp).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Two-factor authentication: to the code step or to enrolment before a page that needs it.
    "accounts.mfa.middleware.SecondFactorMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into a refusal.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

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
                "dashboard.pages.context_processors.topbar",
            ],
        },
    },
    {
        # Only the partials of hundreds of rows (key cards, the overview's rows, the errors
        # filter's accounts) and the SVG chart, which the pages render with engines["jinja2"]:
        # Jinja2 draws them several times faster than the template language
        # (dashboard/pages/common.py).
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "dashboard.jinja2.environment", "autoescape": True},
    },
]

# --- Database: PostgreSQL from DATABASE_URL, else SQLite under var/ ---------------------------
# Every SQLite database, whichever way it is named (the default, SQLITE_PATH, sqlite:///… in
# DATABASE_URL), runs with these: WAL lets the web process read while a worker writes; IMMEDIATE
# takes the write lock at BEGIN so concurrent writers wait (timeout) instead of failing mid-way.
# The engine is Django's, with the file created 0600 (dashboard/runtime/sqlite3).
SQLITE_ENGINE = "dashboard.runtime.sqlite3"
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": env_int("SQLITE_BUSY_TIMEOUT_SECONDS", 20, minimum=1, maximum=600),
}
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH") or str(VAR_DIR / "dashboard.sqlite3"),
            # A file, not pytest-django's in-memory default: the multi-process tests start real
            # Celery workers that must see the test database. One file per test run (pid), and
            # workers are pointed at it through SQLITE_PATH.
            "TEST": {"NAME": VAR_DIR / f"test-{os.getpid()}.sqlite3"},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = SQLITE_ENGINE
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS}
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # as Django's default: a connection per request
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: REDIS_URL, else the embedded server's unix socket under var/ ----------------------
REDIS_URL = env_str("REDIS_URL") or f"unix://{VAR_DIR / 'redis.sock'}"
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix://; got {REDIS_URL!r}")


def _broker_url(redis_url: str) -> str:
    # kombu spells a unix socket "redis+socket://"; redis-py spells it "unix://".
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


# A Redis that hangs (paused, a full network buffer) must not hang the pages: every cache read
# and write gives up after this many seconds, and the pages treat that as a miss (the chart's and
# the PnL's cached figures are worked out or shown as "computing"; snapshots.queries.cache_get_many).
CACHE_SOCKET_TIMEOUT_S = 2
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "okxdash",
        # Passed to redis-py's connection pool (django.core.cache.backends.redis.RedisCacheClient).
        "OPTIONS": {
            "socket_timeout": CACHE_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": CACHE_SOCKET_TIMEOUT_S,
        },
    }
}

# --- Celery ------------------------------------------------------------------------------------
CELERY_BROKER_URL = _broker_url(REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Every task's time limit stays below this, so a task is never redelivered while it still runs.
    "visibility_timeout": 3600,
    "global_keyprefix": "okxdash:",
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # health and history live in our tables, not in Celery results
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Workers: refresh, key health, retention, alerts, reports, chart warming ------------------
REFRESH_INTERVAL_SECONDS = env_int("REFRESH_INTERVAL_SECONDS", 60, minimum=10, maximum=86_400)
KEY_HEALTH_INTERVAL_SECONDS = env_int("KEY_HEALTH_INTERVAL_SECONDS", 900, minimum=60, maximum=86_400)
ALERTS_INTERVAL_SECONDS = env_int("ALERTS_INTERVAL_SECONDS", 60, minimum=5, maximum=3_600)
ROTATION_POLICY_DAYS = env_int("ROTATION_POLICY_DAYS", 90, minimum=1, maximum=3_650)
GRACE_PERIOD_MINUTES = env_int("GRACE_PERIOD_MINUTES", 15, minimum=0, maximum=10_080)
# Seconds the OKX client waits for an answer to start arriving; a stalled exchange costs at most
# this per attempt (the refresh's time limit still bounds the whole refresh).
OKX_READ_TIMEOUT_SECONDS = env_int("OKX_READ_TIMEOUT_SECONDS", 10, minimum=1, maximum=60)
# Hosts besides OKX's own (global, EEA, US) that an account may send its key to: origins
# "scheme://host[:port]" (no port: any port of that host). Empty in production, so a key only ever
# goes to OKX; `make demo` and the tests list the built-in simulator (accounts.models.base_url_problem).
OKX_EXTRA_BASE_URLS = env_list("OKX_EXTRA_BASE_URLS")
RETENTION_HOUR_UTC = 3  # the daily thinning of snapshot history runs at 03:30 UTC
REPORTS_DISPATCH_SECONDS = 60  # report schedules live in the database; this entry reads them
# The whole schedule. Tasks are found by autodiscovery (each app's tasks.py); `expires` just under
# each interval, so a stalled worker builds no backlog of stale runs.
CELERY_BEAT_SCHEDULE = {
    "refresh-all": {
        "task": "snapshots.tasks.refresh_all",
        "schedule": float(REFRESH_INTERVAL_SECONDS),
        "options": {"expires": REFRESH_INTERVAL_SECONDS * 0.9},
    },
    # Deposits, withdrawals, master<->sub transfers and the fee bills of every own-key account.
    "sync-ledger": {
        "task": "ledger.tasks.sync_all",
        "schedule": float(REFRESH_INTERVAL_SECONDS),
        "options": {"expires": REFRESH_INTERVAL_SECONDS * 0.9},
    },
    "warm-charts": {
        "task": "snapshots.tasks.warm_charts",
        "schedule": float(REFRESH_INTERVAL_SECONDS),
        "options": {"expires": REFRESH_INTERVAL_SECONDS * 0.9},
    },
    # The overview's PnL (every account's, the team's, its calendar), worked out ahead (issue 22).
    "warm-pnl": {
        "task": "dashboard.tasks.warm_pnl",
        "schedule": float(REFRESH_INTERVAL_SECONDS),
        "options": {"expires": REFRESH_INTERVAL_SECONDS * 0.9},
    },
    "thin-snapshots": {
        "task": "snapshots.tasks.thin_snapshots",
        "schedule": crontab(minute=30, hour=RETENTION_HOUR_UTC),
        "options": {"expires": 23 * 3600},
    },
    "check-all-keys": {
        "task": "accounts.tasks.check_all_keys",
        "schedule": float(KEY_HEALTH_INTERVAL_SECONDS),
        "options": {"expires": KEY_HEALTH_INTERVAL_SECONDS * 0.9},
    },
    # Also beat's heartbeat for /readyz (dashboard/celery.py).
    "run-alerts": {
        "task": "alerts.tasks.run_alerts",
        "schedule": float(ALERTS_INTERVAL_SECONDS),
        "options": {"expires": ALERTS_INTERVAL_SECONDS * 0.9},
    },
    "run-due-reports": {
        "task": "reports.tasks.run_due_reports",
        "schedule": float(REPORTS_DISPATCH_SECONDS),
        "options": {"expires": REPORTS_DISPATCH_SECONDS * 0.9},
    },
}

# --- Encryption of stored credentials (independent of SECRET_KEY) -----------------------------
if EMBEDDED and not FERNET_KEYS:
    from cryptography.fernet import Fernet

    FERNET_KEYS = [local_secret("fernet.key", lambda: Fernet.generate_key().decode())]

# --- Auth, login throttling --------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Single sign-on: refuses a password sign-in that LOCAL_PASSWORDS does not allow (accounts/sso).
    "accounts.sso.backends.LocalPasswordSwitch",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=10_080))
AXES_RESET_ON_SUCCESS = True
# Per (username, IP) for the login; per username alone for a key action's password (accounts.lockout).
AXES_LOCKOUT_PARAMETERS = "accounts.lockout.lockout_parameters"
# Reverse proxies in front (each appends to X-Forwarded-For); 0 ignores the header. Axes and the
# audit rows read the client's address through dashboard.client_ip (django-ipware is not used).
PROXY_COUNT = env_int("PROXY_COUNT", 0, minimum=0, maximum=10)
AXES_CLIENT_IP_CALLABLE = "dashboard.client_ip.client_ip"

# --- Two-factor authentication (django-otp; accounts/mfa, README "Two-factor authentication") ---
# Who must have a second factor: "key_admins" (whoever may manage keys, superusers too: before any
# key action and the admin) or "everyone" (before any page).
TWO_FACTOR_REQUIRED = (env_str("TWO_FACTOR_REQUIRED") or "key_admins").lower()
if TWO_FACTOR_REQUIRED not in ("key_admins", "everyone"):
    raise ImproperlyConfigured(
        f"TWO_FACTOR_REQUIRED must be key_admins or everyone; got {TWO_FACTOR_REQUIRED!r}"
    )
OTP_TOTP_ISSUER = "OKX team dashboard"  # the name authenticator apps show beside the codes
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # django-otp's admin never shows a TOTP key or recovery code
# axes keeps a failed attempt's posted fields (post_data) and masks only "password" and these: the
# code step's code, and the credential set a rotation posts beside its password re-entry
# (accounts.forms.SECRET_FIELDS; unmasked, a wrong password stored the new key in plain text).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code", "api_key", "secret_key", "passphrase"]

# --- Single sign-on (OpenID Connect; accounts/sso, README "Single sign-on (OIDC)") --------------
# Off while OIDC_ISSUER is unset. The issuer, client id and secret come together; the secret is
# only handed to Authlib (never logged, shown or put in a message).
OIDC_ISSUER = env_str("OIDC_ISSUER") or ""
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID") or ""
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET") or ""
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME") or "single sign-on"  # the button: "Sign in with …"
OIDC_SCOPES = env_str("OIDC_SCOPES") or "openid email profile"
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM") or "groups"
# "provider-group=role,…" (roles: viewer, operator, key admin); set, roles follow the provider.
OIDC_ROLE_MAP = parse_role_map(env_str("OIDC_ROLE_MAP") or "")
OIDC_CREATE_USERS = env_bool("OIDC_CREATE_USERS", True)
# on | off | superusers (break-glass: superusers only), for every password sign-in.
LOCAL_PASSWORDS = local_passwords_mode(env_str("LOCAL_PASSWORDS"))
check_oidc_settings(
    issuer=OIDC_ISSUER,
    client_id=OIDC_CLIENT_ID,
    client_secret=OIDC_CLIENT_SECRET,
    scopes=OIDC_SCOPES,
    local_passwords=LOCAL_PASSWORDS,
    embedded=EMBEDDED,
)

# --- Security (production) ---------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not EMBEDDED:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0, maximum=63_072_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): no inline scripts anywhere, no framing, nothing from
# another origin (the dashboard must work on an isolated network). Styles come from app.css only;
# a view that must show stored HTML (a report e-mail) relaxes style-src for itself alone.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- JSON API (Django REST framework, read-only; schema by drf-spectacular) ------------------
REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous request 401 with "WWW-Authenticate: Token" (the first
    # class's header); the session still works for a signed-in browser.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["dashboard.api.permissions.CanViewDashboard"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_METADATA_CLASS": None,  # OPTIONS answers 405: the schema is the description
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,  # money leaves as strings, exactly as OKX sent it
    "DATETIME_FORMAT": "iso-8601",  # UTC (TIME_ZONE), with a Z
}
# API tokens (django-rest-knox): the database keeps a SHA-512 digest and a 15-character lookup
# prefix, never the token. Same header as before ("Authorization: Token <token>"); a token lasts
# until it is rotated or deleted, as DRF's did (`manage.py api_token`).
REST_KNOX = {"TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Token"}
SPECTACULAR_SETTINGS = {
    "TITLE": "OKX team dashboard API",
    "DESCRIPTION": (
        "Read-only access to accounts, balances, positions, equity, key health and errors. "
        "Authenticate with a signed-in session or a per-user token "
        "(`Authorization: Token <key>`, from `python manage.py api_token USERNAME`). "
        "Amounts are decimal strings (exact); times are ISO 8601 in UTC."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["dashboard.api.permissions.CanViewDashboard"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The documentation page (/api/v1/docs) loads Swagger UI from drf-spectacular-sidecar's static
    # files: nothing from another origin, so the strict CSP holds.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Two choice sets share the field name "kind" (an account's master/sub, a flow's kind).
    "ENUM_NAME_OVERRIDES": {
        "AccountKindEnum": "accounts.models.AccountKind",
        "FlowKindEnum": "ledger.models.FlowKind",
    },
}

# --- E-mail: SMTP when EMAIL_HOST is set, else files under var/mail/ (reports, alerts) --------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65_535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER") or ""
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD") or ""
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1, maximum=300)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "okx-dashboard@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Observability: /metrics answers only with this bearer token (unset: /metrics is off) ------
METRICS_TOKEN = env_str("METRICS_TOKEN") or ""

# --- Time, language, static ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DISPLAY_TIME_ZONE = env_str("DISPLAY_TIME_ZONE", "UTC")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "dashboard" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if EMBEDDED
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Embedded mode has no collectstatic step: WhiteNoise serves the apps' static folders directly
# (also with DEBUG off, as in `make demo`).
WHITENOISE_USE_FINDERS = EMBEDDED

# --- Logging: plain lines to stderr; secrets never reach a log call ----------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # The HTTP clients log request URLs (a webhook URL or bot token is a secret) below WARNING.
    "loggers": {name: {"level": "WARNING"} for name in ("urllib3", "httpx", "httpcore")},
}
ADMINS = [("admin", addr) for addr in env_list("ADMIN_EMAILS")]
