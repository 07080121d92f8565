"""Configuration classes, read from the environment.

`CRM_CONFIG` picks the class (development, test, production); every setting that differs
between machines comes from an environment variable so web and worker processes stay stateless.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_PATH = Path(os.environ.get("CRM_INSTANCE_DIR", BASE_DIR / "instance")).resolve()

# Anything that looks like this key is refused by the production configuration.
DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url(default: str) -> str:
    url = os.environ.get("DATABASE_URL", default)
    # Hosting platforms still hand out postgres:// URLs; SQLAlchemy wants an explicit driver.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    ENV_NAME = "base"
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
    INSTANCE_DIR = str(INSTANCE_PATH)
    SQLALCHEMY_DATABASE_URI = _database_url(f"sqlite:///{INSTANCE_PATH / 'axcrm.sqlite3'}")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL") or None
    SMTP_URL = os.environ.get("SMTP_URL") or None
    MAIL_FROM = os.environ.get("MAIL_FROM", "AX CRM <no-reply@axcrm.example>")
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_PATH / "uploads"))
    OUTBOX_DIR = os.environ.get("OUTBOX_DIR", str(INSTANCE_PATH / "outbox"))

    # Korean first; dates shown and D-N arithmetic in Asia/Seoul, everything stored in UTC.
    LANGUAGES = ("ko", "en")
    BABEL_DEFAULT_LOCALE = "ko"
    BABEL_DEFAULT_TIMEZONE = "Asia/Seoul"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    DISPLAY_TIMEZONE = "Asia/Seoul"

    SESSION_COOKIE_NAME = "axcrm_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)  # absolute limit of a signed-in session
    SESSION_IDLE_TIMEOUT_STAFF = timedelta(minutes=30)
    SESSION_IDLE_TIMEOUT_FIRM = timedelta(hours=2)
    FRESH_LOGIN_SECONDS = 300  # password re-entry this recent before password, MFA and role changes
    HSTS_ENABLED = False
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0") or 0)
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    WTF_I18N_ENABLED = True

    PASSWORD_MIN_LENGTH = 12
    PASSWORD_MAX_LENGTH = 128
    LOGIN_MAX_FAILURES = 10
    LOGIN_FAILURE_WINDOW = timedelta(minutes=15)
    # Roles that must use two-step sign-in (crm/auth/mfa.py); others may turn it on themselves.
    MFA_REQUIRED_ROLES = ("admin", "consortium_manager")

    PAGE_SIZE = 25
    MAX_CONTENT_LENGTH = 25 * 1024 * 1024
    DOCUMENT_MAX_BYTES = 20 * 1024 * 1024

    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True

    # Lets a remote Prometheus scrape /metrics (local scrapes need no token).
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    # "json": one JSON object per line on stderr (crm/core/logging.py); "text" leaves logging as it is.
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    API_TOKEN_DAYS = int(os.environ.get("API_TOKEN_DAYS", "30"))
    API_TOKEN_RATE_LIMIT = os.environ.get("API_TOKEN_RATE_LIMIT", "10 per minute")

    # Celery: REDIS_URL gives the real broker; without it an embedded broker that needs no server.
    CELERY_TASK_ALWAYS_EAGER = False
    # The outbox: how often the relay looks for deliveries to enqueue, how long a sender holds a claim,
    # when an enqueued delivery that nobody took is enqueued again, and the retry schedule.
    OUTBOX_RELAY_SECONDS = float(os.environ.get("OUTBOX_RELAY_SECONDS", "5"))
    DELIVERY_LEASE_SECONDS = int(os.environ.get("DELIVERY_LEASE_SECONDS", "120"))
    DELIVERY_REENQUEUE_SECONDS = int(os.environ.get("DELIVERY_REENQUEUE_SECONDS", "300"))
    DELIVERY_RETRY_BASE_SECONDS = int(os.environ.get("DELIVERY_RETRY_BASE_SECONDS", "30"))
    DELIVERY_MAX_ATTEMPTS = int(os.environ.get("DELIVERY_MAX_ATTEMPTS", "8"))
    # Deliveries per worker task: a task claims them together and sends them over one SMTP connection.
    DELIVERY_BATCH_SIZE = int(os.environ.get("DELIVERY_BATCH_SIZE", "100"))
    MESSAGE_ID_DOMAIN = os.environ.get("MESSAGE_ID_DOMAIN", "axcrm.local")
    # SMS / 카카오 알림톡 provider (crm/notices/channels.py): JSON POSTed to TEXT_API_URL with the key as a
    # bearer token; TEXT_SENDER is the registered sending number. Without a URL, text messages are written
    # to OUTBOX_DIR as .json files, as mail is without SMTP_URL.
    TEXT_API_URL = os.environ.get("TEXT_API_URL") or None
    TEXT_API_KEY = os.environ.get("TEXT_API_KEY", "")
    TEXT_SENDER = os.environ.get("TEXT_SENDER", "")


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    # The MFA page shows the current code of demo accounts (which use a published key); never in production.
    DEMO_MFA_HINT = _env_bool("DEMO_MFA_HINT", True)
    DEBUG = _env_bool("FLASK_DEBUG", False)


class TestConfig(Config):
    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"
    SQLALCHEMY_DATABASE_URI = _database_url(os.environ.get("TEST_DATABASE_URL", "sqlite://"))
    RATELIMIT_ENABLED = False
    # Other features' tests sign staff in with a password only; tests/auth/test_mfa.py turns this on.
    MFA_REQUIRED_ROLES = ()
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"  # fast in tests; production keeps Werkzeug's strong default


class ProductionConfig(Config):
    ENV_NAME = "production"
    DEBUG = False
    if Config.REDIS_URL and not os.environ.get("RATELIMIT_STORAGE_URI"):
        # Counters shared by every web process; memory:// would give each worker its own budget.
        RATELIMIT_STORAGE_URI = Config.REDIS_URL
    # __Host- makes browsers insist on Secure, Path=/ and no Domain, so a sibling subdomain cannot plant it.
    SESSION_COOKIE_NAME = "__Host-axcrm_session"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_PATH = "/"
    SESSION_COOKIE_DOMAIN = None
    HSTS_ENABLED = True
    # SQL errors are logged; without this their text carries the statement's values (names, e-mails).
    SQLALCHEMY_ENGINE_OPTIONS = {**Config.SQLALCHEMY_ENGINE_OPTIONS, "hide_parameters": True}
    PREFERRED_URL_SCHEME = "https"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    name = os.environ.get("CRM_CONFIG", "development").strip().lower()
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"CRM_CONFIG must be one of {sorted(CONFIGS)}, not {name!r}") from None
