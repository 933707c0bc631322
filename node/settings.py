"""Django settings. The environment is read once, here, through :func:`node.config.load`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from node.config import ConfigError, load, parse_bool
from node.envfile import EnvFileError, environ_with_env_file

BASE_DIR = Path(__file__).resolve().parent.parent

try:
    # `node init` writes var/node.env (or NODE_ENV_FILE); the real environment wins over it.
    _node_env = environ_with_env_file(os.environ, BASE_DIR)
    NODE = load(_node_env, BASE_DIR)
    # A local test network started by `manage.py devnet`: hub joins are approved automatically.
    NODE_DEVNET = parse_bool(_node_env, "NODE_DEVNET", False) and not NODE.production
except (ConfigError, EnvFileError) as exc:  # a clear start-up error instead of a traceback deep in Django
    raise ImproperlyConfigured(f"Redcloud configuration error: {exc}") from exc

SECRET_KEY = NODE.secret_key
DEBUG = NODE.debug
ALLOWED_HOSTS = list(NODE.allowed_hosts)

NODE_DOMAIN = NODE.domain
NODE_NAME = NODE.name
NODE_ROLE = NODE.role
NODE_REGION_CODE = NODE.region_code
NODE_PARENT = NODE.parent
NODE_BASE_URL = NODE.base_url
NODE_REGISTRATION = NODE.registration
NODE_VAR_DIR = NODE.var_dir
NODE_TRUSTED_PROXIES = NODE.trusted_proxies
NODE_VERSION = "0.1.0"
# The hub (node/hub.py): child domains accepted without the operator; re-broadcast to children.
NODE_HUB_ALLOW = NODE.hub_allow
NODE_HUB_REBROADCAST = NODE.hub_rebroadcast
FEDERATION_ALLOW_PRIVATE_ADDRESSES = NODE.allow_private_addresses
FEDERATION_TIME_SCALE = NODE.time_scale
FEDERATION_DELIVERY_TIMEOUT = NODE.delivery_timeout
# The network classroom's limits, LEARNING_* (node/config.py: LearningLimits.as_settings).
globals().update(NODE.learning.as_settings())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "oauth2_provider",
    "federation.apps.FederationConfig",
    "microblog.apps.MicroblogConfig",
    "groups.apps.GroupsConfig",
    "learning.apps.LearningConfig",
    "node.apps.NodeConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "node.urls"
WSGI_APPLICATION = "node.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "node" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "node.context_processors.node",
            ],
        },
    },
]

# Persistent connections without a per-request "SELECT 1" health check: that check is a full
# round trip on every inbox POST (bench B3). After a database restart each web process fails
# one request with 500 (peers retry) and Django then discards the broken connection.
DATABASES = {"default": dj_database_url.parse(NODE.database_url, conn_max_age=60, conn_health_checks=False)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # Web and worker processes share the file: WAL lets readers run beside one writer,
        # IMMEDIATE transactions avoid lock upgrades that would fail with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "node.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = NODE.var_dir / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
MEDIA_URL = "media/"
MEDIA_ROOT = NODE.media_root
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if NODE.production
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not NODE.production

DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FEDERATION_MAX_BODY_BYTES = 1024 * 1024

if NODE.redis_url:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": NODE.redis_url}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(NODE.var_dir / "cache"),
        }
    }

# Celery. Queue names live in node/celery.py (QUEUES); tasks name their queue there by prefix.
if NODE.embedded_broker:
    _broker_dir = NODE.var_dir / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "node.broker:Transport"  # atomic message files (see node/broker.py)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_URL = NODE.redis_url
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(NODE.var_dir / "celerybeat-schedule")

if NODE.production:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    CSRF_TRUSTED_ORIGINS = [NODE.base_url]
else:
    CSRF_TRUSTED_ORIGINS = [NODE.base_url, "http://127.0.0.1", "http://localhost"]

# django-oauth-toolkit's swappable models, named so migrations can refer to them.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "read",
        "write": "write",
        "follow": "follow",
        "push": "push",
        "admin:read": "admin:read",
        "admin:write": "admin:write",
    },
    "DEFAULT_SCOPES": ["read"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 10 * 365 * 24 * 3600,
    "PKCE_REQUIRED": False,
    # Mastodon client API (microblog/api/oauth.py): Mastodon's scope hierarchy and grant rules.
    "SCOPES_BACKEND_CLASS": "microblog.api.oauth.MastodonScopes",
    "OAUTH2_VALIDATOR_CLASS": "microblog.api.oauth.MastodonValidator",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "stream": sys.stderr}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Queues and routing, in one place. Task names are stable strings (`app.area.verb`).
CELERY_TASK_DEFAULT_QUEUE = "default"
NODE_QUEUES = ("inbox", "deliver", "fanout", "media", "default")
CELERY_TASK_ROUTES = {
    "federation.inbox.*": {"queue": "inbox"},
    "federation.deliver.*": {"queue": "deliver"},
    "*.federate_*": {"queue": "fanout"},
    "*.media.*": {"queue": "media"},
}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
# Outbound delivery sweeper: re-queues due retries and leases expired by a dead worker or lost message.
_SWEEP_SECONDS = max(1.0, 60.0 * NODE.time_scale)
CELERY_BEAT_SCHEDULE["federation.deliver.sweep"] = {"task": "federation.deliver.sweep", "schedule": _SWEEP_SECONDS}
CELERY_BEAT_SCHEDULE["federation.inbox.sweep"] = {"task": "federation.inbox.sweep", "schedule": _SWEEP_SECONDS}
# Followers' software from their NodeInfo (federation/software.py: which group announce forms a peer needs).
CELERY_BEAT_SCHEDULE["federation.software.sweep"] = {
    "task": "federation.software.sweep",
    "schedule": max(5.0, 600.0 * NODE.time_scale),
}

# microblog media (microblog/media.py): uploads are images only, re-encoded without metadata.
MICROBLOG_MAX_IMAGE_BYTES = 8 * 1024 * 1024
MICROBLOG_MAX_IMAGE_PIXELS = 40_000_000  # one frame; larger headers are refused before decoding
MICROBLOG_MAX_ANIMATION_PIXELS = 100_000_000  # all frames of an animated GIF/WebP together
MICROBLOG_THUMBNAIL_SIZE = 400  # long side of the preview, in pixels

# microblog interactions/polls (microblog/interactions.py, microblog/polls.py)
MICROBLOG_MAX_POLL_OPTIONS = 10
MICROBLOG_MAX_POLL_OPTION_CHARS = 50
MICROBLOG_MAX_PINS = 5
CELERY_BEAT_SCHEDULE["microblog.close_polls"] = {"task": "microblog.close_polls", "schedule": _SWEEP_SECONDS}
# learning: group assignments re-synced with memberships changed without a follow (learning/assignments.py).
CELERY_BEAT_SCHEDULE["learning.sync_assignments"] = {"task": "learning.sync_assignments", "schedule": 3600.0}

# microblog posts (microblog/services.py, microblog/activitypub.py, microblog/inbound.py)
MICROBLOG_MAX_CHARS = 500
MICROBLOG_MAX_MEDIA = 4
MICROBLOG_IDEMPOTENCY_SECONDS = 3600  # same author + Idempotency-Key within this window = same post
MICROBLOG_FETCH_PARENTS = True  # fetch an unknown parent of an incoming reply once (no recursion)
MICROBLOG_POST_LANGUAGES = [
    ("zh-Hans", "简体中文"),
    ("en", "English"),
    ("bo", "བོད་ཡིག"),  # Tibetan
    ("khb", "ᦑᦲᧈᦟᦹᧉ"),  # Lü (Xishuangbanna Dai, New Tai Lue script)
    ("tdd", "ᥖᥭᥰᥖᥬᥳᥑᥨᥒᥰ"),  # Tai Nüa (Dehong Dai, Tai Le script)
    ("ii", "ꆈꌠꉙ"),  # Nuosu (Yi)
    ("ug", "ئۇيغۇرچە"),  # Uyghur
    ("mn", "Монгол"),
    ("za", "Vahcuengh"),  # Zhuang
]


# --- groups (virtual branches) -------------------------------------------------------------
GROUPS_KINDS = ["branch", "general_branch", "committee", "township_committee", "county_committee"]
# Roles, highest first, with what each may do. "officer" roles appear in the moderators collection.
GROUPS_ROLES = {
    "secretary": {
        "officer": True,
        "perms": [
            "approve",
            "remove",
            "roles",
            "verify",
            "post",
            "moderate",
            "records",
            "dues",
            "transfer",
            "events",
            "polls",
        ],
    },
    "deputy_secretary": {
        "officer": True,
        "perms": ["approve", "remove", "verify", "post", "moderate", "records", "dues", "transfer", "events", "polls"],
    },
    "committee_member": {"officer": True, "perms": ["approve", "post", "moderate", "records", "events", "polls"]},
    "member": {"officer": False, "perms": ["post"]},
}
GROUPS_MEETING_KINDS = ["member_assembly", "committee_meeting", "group_meeting", "party_lecture"]

# groups events (groups/events.py): reminders before an event starts; the beat job runs every
# minute (scaled by FEDERATION_TIME_SCALE like the sweepers), the lead time is scaled too.
GROUPS_EVENT_REMINDER_MINUTES = 60
CELERY_BEAT_SCHEDULE["groups.event_reminders"] = {"task": "groups.event_reminders", "schedule": _SWEEP_SECONDS}

# hub statistics (node/stats.py): this node's report goes to its parent once a day (a day scaled
# by FEDERATION_TIME_SCALE like the sweepers); a child silent for two such periods is unhealthy.
CELERY_BEAT_SCHEDULE["node.stats.report"] = {
    "task": "node.stats.report",
    "schedule": max(1.0, 86400.0 * NODE.time_scale),
}
