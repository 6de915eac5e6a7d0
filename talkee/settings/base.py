"""Settings shared by every environment; read from the environment with django-environ.

The embedded default (no DATABASE_URL / REDIS_URL) is real: SQLite in var/, the
in-memory channel layer and periodic jobs run in-process. With the variables set,
PostgreSQL (psycopg 3) and Redis (channels-redis, Celery broker, cache) are used.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("TALKEE_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env(
    DEBUG=(bool, False),
    TALKEE_DOMAIN=(str, "localhost"),
)

DEBUG = env("DEBUG")
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
# Addresses (IPs or networks, or "*") of the reverse proxies in front of the web processes.
# A request from one of them is taken to come from the address its X-Forwarded-For names, so
# the per-address limits (sign-up, sign-in, /dns-query) count each client, not the front.
# Empty (`make run`, no proxy): the connecting address is the client.
TALKEE_TRUSTED_PROXIES: list[str] = env.list("TALKEE_TRUSTED_PROXIES", default=[])

TALKEE_DOMAIN = env("TALKEE_DOMAIN")
TALKEE_KEY_DIR = Path(env.str("TALKEE_KEY_DIR", default=str(VAR_DIR / "keys")))
TALKEE_PUBLIC_URL = env.str("TALKEE_PUBLIC_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_guid",
    "apps.accounts",
    "apps.devices",
    "apps.chats",
    "apps.messages",
    "apps.blobs",
    "apps.federation",
    "apps.transport",
    "apps.calls",
    "apps.push",
    "apps.adminpanel",
]

MIDDLEWARE = [
    # A request id for every request (X-Request-ID from the front, else a new one), in every
    # log line, answered in X-Request-ID, passed on to Celery tasks and to peers.
    "django_guid.middleware.guid_middleware",
    "apps.core.requestlog.RequestLogMiddleware",
    "apps.core.headers.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.core.errors.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "talkee.urls"
ASGI_APPLICATION = "talkee.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

# --- database -------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'talkee.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Keep connections open: a new connection per message costs a third of throughput
    # (PERFORMANCE.md). Django's psycopg pool is used under the ASGI server.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 2, "max_size": 20, "timeout": 10}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "transaction_mode": "IMMEDIATE"})

# --- redis: channel layer, cache, celery --------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="talkee")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub publishes once per group instead of once per socket; it is
            # at-most-once, which is safe because the database and the device cursor
            # are the truth and every live event carries its cursor (PERFORMANCE.md).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": env.list("CHANNEL_REDIS_URLS", default=[REDIS_URL]),
                # Redis pub/sub ignores the database number: two deployments (or test
                # runs) on one Redis would hear each other's `device.<id>` groups.
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default=f"{CACHE_KEY_PREFIX}-asgi"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    # Several instances (or test runs) may share one Redis as their broker: each its own keys.
    if broker_prefix := env.str("CELERY_BROKER_KEYPREFIX", default=""):
        CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": broker_prefix}
    TALKEE_INPROCESS_JOBS = env.bool("TALKEE_INPROCESS_JOBS", default=False)
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    # No broker process: tasks run inline (same functions) and the beat schedule is
    # driven by a thread inside the server process (talkee/jobs.py).
    TALKEE_INPROCESS_JOBS = env.bool("TALKEE_INPROCESS_JOBS", default=True)

# TALKEE_TASKS_INLINE: tasks run in the process that queues them (no worker). The default
# without a broker; with Redis it serves a small instance that needs Redis only for the
# channel layer (a separate s2s listener publishes to the client server's sockets through it).
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "TALKEE_TASKS_INLINE", default=not REDIS_URL and not env.str("CELERY_BROKER_URL", default="")
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "purge-expired-challenges": {
        "task": "apps.accounts.tasks.purge_expired_challenges",
        "schedule": 60.0,
    },
    "purge-stale-sync-bundles": {
        "task": "apps.devices.tasks.purge_stale_sync_bundles",
        "schedule": 300.0,
    },
    "sweep-federation-outbox": {
        "task": "apps.federation.tasks.sweep_outbox",
        "schedule": 10.0,
    },
    "sweep-federation-inbox": {
        "task": "apps.federation.tasks.sweep_inbox",
        "schedule": 15.0,
    },
    "clear-delivered-envelopes": {
        "task": "apps.federation.tasks.clear_delivered_bodies",
        "schedule": 30.0,
    },
    # Self-destructing messages are gone within a minute of expiry.
    "purge-stale-ciphertext": {
        "task": "apps.messages.tasks.purge_stale_ciphertext",
        "schedule": env.float("TALKEE_PURGE_INTERVAL_SECONDS", default=15.0),
    },
    # Uploads never completed (or never sent) are gone soon after their deadline.
    "purge-abandoned-uploads": {
        "task": "apps.blobs.tasks.purge_abandoned_uploads",
        "schedule": env.float("TALKEE_BLOB_PURGE_INTERVAL_SECONDS", default=300.0),
    },
    # Files no row names (a crash between writing one and committing its row), hourly.
    "purge-orphan-blob-files": {
        "task": "apps.blobs.tasks.purge_orphan_blob_files",
        "schedule": 3600.0,
    },
}

# --- passwords --------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
TALKEE_PASSWORD_MAX_LENGTH = 1024

# --- API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "apps.core.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.ApiAutoSchema",
    "UNAUTHENTICATED_USER": None,
    # Throttles count REMOTE_ADDR only (DRF's default would believe any client's
    # X-Forwarded-For); behind a front, talkee.asgi sets it from TALKEE_TRUSTED_PROXIES.
    "NUM_PROXIES": 0,
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": env.str("THROTTLE_LOGIN_IP", default="20/min"),
        "login_user": env.str("THROTTLE_LOGIN_USER", default="5/min"),
        "register_ip": env.str("THROTTLE_REGISTER_IP", default="10/min"),
        "claim_user": env.str("THROTTLE_CLAIM_USER", default="120/min"),
        "turn_user": env.str("THROTTLE_TURN_USER", default="60/min"),
        "group_call_user": env.str("THROTTLE_GROUP_CALL_USER", default="30/min"),
        "password_user": env.str("THROTTLE_PASSWORD_USER", default="5/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Talkee client API",
    "DESCRIPTION": "End-to-end encrypted messenger homeserver. Errors are "
    '{"error": {"code": "...", "message": "..."}}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served by this instance, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # GET /v1/sync is a plain async view; its hook adds it (the enum hook is the default one).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.messages.api.sync.document_sync",
    ],
    # Two choice sets are called `kind`: each its own enum name.
    "ENUM_NAME_OVERRIDES": {
        "ChatKindEnum": "apps.chats.models.Chat.Kind",
        "MessageKindEnum": "apps.messages.models.Message.Kind",
    },
}

# Handshake messages with the post-quantum suite reach several MB (MLS.md); base64
# adds a third. The API edge refuses larger bodies with 413.
TALKEE_MAX_REQUEST_BYTES = env.int("TALKEE_MAX_REQUEST_BYTES", default=23 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = TALKEE_MAX_REQUEST_BYTES

# Message sizes: application payloads are padded to at most 64 KiB before MLS adds its
# framing; handshake messages (commit, welcome) grow ~3.5 KB per added member (MLS.md).
TALKEE_APPLICATION_MAX_BYTES = env.int("TALKEE_APPLICATION_MAX_BYTES", default=66 * 1024)
TALKEE_HANDSHAKE_MAX_BYTES = env.int("TALKEE_HANDSHAKE_MAX_BYTES", default=16 * 1024 * 1024)
TALKEE_REACTION_MAX_BYTES = 1024
# An encrypted profile (display name and a small picture, padded to at most 64 KiB by the
# client, then sealed): PUT /v1/accounts/me/profile refuses more with 413 profile_too_large.
TALKEE_PROFILE_MAX_BYTES = env.int("TALKEE_PROFILE_MAX_BYTES", default=65 * 1024)
# A remote user's profile is asked of their instance at most this often (mirrored between).
TALKEE_REMOTE_PROFILE_REFRESH_SECONDS = env.int("TALKEE_REMOTE_PROFILE_REFRESH_SECONDS", default=60)
TALKEE_CALL_PAYLOAD_MAX_BYTES = 64 * 1024
# Calls: the instance's own coturn (`use-auth-secret` + `static-auth-secret`); no URLs = no TURN.
TALKEE_TURN_URLS: list[str] = env.list("TALKEE_TURN_URLS", default=[])
TALKEE_TURN_SECRET = env.str("TALKEE_TURN_SECRET", default="")
TALKEE_TURN_TTL_SECONDS = env.int("TALKEE_TURN_TTL_SECONDS", default=3600)
# Group calls: the instance's own Janus SFU (VideoRoom, token_auth, admin API over HTTP).
# No URL or no admin secret = group calls are off (the app says the operator has not enabled them).
TALKEE_JANUS_URL = env.str("TALKEE_JANUS_URL", default="")  # its WebSockets transport, e.g. ws://janus:8188
TALKEE_JANUS_ADMIN_URL = env.str("TALKEE_JANUS_ADMIN_URL", default="")  # e.g. http://janus:7088/admin
TALKEE_JANUS_ADMIN_SECRET = env.str("TALKEE_JANUS_ADMIN_SECRET", default="")
# A group-call ticket opens one proxied connection to Janus, within this many seconds.
TALKEE_GROUP_CALL_TICKET_SECONDS = env.int("TALKEE_GROUP_CALL_TICKET_SECONDS", default=30)
# The proxy checks this often that its user is still in the chat, and closes the Janus
# connection of one who is not (0: never; their keys stop working at the next epoch anyway).
TALKEE_GROUP_CALL_MEMBER_CHECK_SECONDS = env.float("TALKEE_GROUP_CALL_MEMBER_CHECK_SECONDS", default=10)
TALKEE_SYNC_PAGE = env.int("TALKEE_SYNC_PAGE", default=500)
TALKEE_TYPING_INTERVAL_SECONDS = env.float("TALKEE_TYPING_INTERVAL_SECONDS", default=2.0)
TALKEE_PRESENCE_MAX_MEMBERS = env.int("TALKEE_PRESENCE_MAX_MEMBERS", default=50)

# Federation: static domain → host:port map (tests, private networks), else DNS names.
TALKEE_FEDERATION_HOSTS: dict[str, str] = env.dict("TALKEE_FEDERATION_HOSTS", default={})
TALKEE_FEDERATION_SCHEME = env.str("TALKEE_FEDERATION_SCHEME", default="https")
# Without a static entry, a peer's federation URL is looked up on its web host
# (https://<domain>/.well-known/talkee/server); the map and scheme below are for tests.
TALKEE_FEDERATION_DELEGATION = env.bool("TALKEE_FEDERATION_DELEGATION", default=True)
TALKEE_FEDERATION_WELL_KNOWN_HOSTS: dict[str, str] = env.dict("TALKEE_FEDERATION_WELL_KNOWN_HOSTS", default={})
TALKEE_FEDERATION_WELL_KNOWN_SCHEME = env.str("TALKEE_FEDERATION_WELL_KNOWN_SCHEME", default="https")
# Mutual TLS between instances (`python -m talkee.server --s2s`): this instance's certificate
# (SAN dNSName = TALKEE_DOMAIN) and key, shown as server and as client, and the CA bundle
# peers are verified against (empty: the system store). /s2s/ requests without a verified
# client certificate naming their origin are refused unless REQUIRE_MTLS is turned off.
TALKEE_FEDERATION_PORT = env.int("TALKEE_FEDERATION_PORT", default=8448)
TALKEE_FEDERATION_TLS_CERT = env.str("TALKEE_FEDERATION_TLS_CERT", default="")
TALKEE_FEDERATION_TLS_KEY = env.str("TALKEE_FEDERATION_TLS_KEY", default="")
TALKEE_FEDERATION_TLS_CA = env.str("TALKEE_FEDERATION_TLS_CA", default="")
TALKEE_FEDERATION_REQUIRE_MTLS = env.bool("TALKEE_FEDERATION_REQUIRE_MTLS", default=True)
TALKEE_FEDERATION_URL = env.str(
    "TALKEE_FEDERATION_URL", default=f"https://{TALKEE_DOMAIN}:{TALKEE_FEDERATION_PORT}/s2s/"
)
TALKEE_FEDERATION_MAX_SKEW_SECONDS = env.int("TALKEE_FEDERATION_MAX_SKEW_SECONDS", default=300)
TALKEE_FEDERATION_MAX_BODY_BYTES = env.int("TALKEE_FEDERATION_MAX_BODY_BYTES", default=20 * 1024 * 1024)
TALKEE_FEDERATION_MAX_ENVELOPES = 100
# How long a worker may hold a claimed outbox batch while its request is in flight (the
# request times out well before); a worker that died is replaced once it runs out.
TALKEE_FEDERATION_LEASE_SECONDS = 120
TALKEE_FEDERATION_PEER_RATE = env.str("TALKEE_FEDERATION_PEER_RATE", default="600/min")

# History-sync bundles for new devices
TALKEE_SYNC_BUNDLE_MAX_BYTES = env.int("TALKEE_SYNC_BUNDLE_MAX_BYTES", default=4 * 1024 * 1024)
TALKEE_SYNC_BUNDLE_TTL_SECONDS = env.int("TALKEE_SYNC_BUNDLE_TTL_SECONDS", default=24 * 3600)

# KeyPackage pool limits
TALKEE_KEYPACKAGE_MAX_BYTES = env.int("TALKEE_KEYPACKAGE_MAX_BYTES", default=16 * 1024)
TALKEE_KEYPACKAGE_BATCH_MAX = env.int("TALKEE_KEYPACKAGE_BATCH_MAX", default=100)
TALKEE_KEYPACKAGE_POOL_MAX = env.int("TALKEE_KEYPACKAGE_POOL_MAX", default=200)
TALKEE_CHALLENGE_TTL_SECONDS = env.int("TALKEE_CHALLENGE_TTL_SECONDS", default=120)
TALKEE_WS_AUTH_TIMEOUT_SECONDS = env.float("TALKEE_WS_AUTH_TIMEOUT_SECONDS", default=10.0)
# Each socket checks that live frames still reach it (a beat through the channel layer) this
# often; one lost beat sends it what it missed from the database (README, Operations).
TALKEE_WS_LAYER_CHECK_SECONDS = env.float("TALKEE_WS_LAYER_CHECK_SECONDS", default=20.0)

# --- resilient transport (apps/transport): the client protocol tunnelled through DNS ---
# The delegated zone the authoritative gateway answers for (NS records point at it).
TALKEE_TUNNEL_ZONE = env.str("TALKEE_TUNNEL_ZONE", default=f"t.{TALKEE_DOMAIN}").strip(".").lower()
# A public DoH resolver that forwards the zone to the gateway, offered to clients (they
# fall back to this instance's own /dns-query when it is empty).
TALKEE_TUNNEL_DOH_URL = env.str("TALKEE_TUNNEL_DOH_URL", default="")
# Half-received requests and finished answers are kept this long (the cache), then dropped.
TALKEE_TUNNEL_FRAGMENT_TTL_SECONDS = env.int("TALKEE_TUNNEL_FRAGMENT_TTL_SECONDS", default=60)
# A tunnelled request may carry at most this much (a text message, not a file).
TALKEE_TUNNEL_MAX_REQUEST_BYTES = env.int("TALKEE_TUNNEL_MAX_REQUEST_BYTES", default=24 * 1024)
# Resolvers give up after a few seconds: a tunnelled sync waits at most this long.
TALKEE_TUNNEL_MAX_WAIT_SECONDS = env.float("TALKEE_TUNNEL_MAX_WAIT_SECONDS", default=2.0)
TALKEE_TUNNEL_SYNC_FRAMES = env.int("TALKEE_TUNNEL_SYNC_FRAMES", default=20)
# Frames older (or newer) than this by the client's clock are refused as replays.
TALKEE_TUNNEL_MAX_SKEW_SECONDS = env.int("TALKEE_TUNNEL_MAX_SKEW_SECONDS", default=300)
# Queries per client address: the DoH endpoint (a browser on the DNS rung polls about once
# a second and sends a message as a few dozen queries) and the gateway, whose clients are
# recursive resolvers each speaking for many people: there it is only a flood guard, far
# above one person's use. Over it: 429 / REFUSED.
TALKEE_TUNNEL_DOH_RATE = env.str("TALKEE_TUNNEL_DOH_RATE", default="1800/min")
TALKEE_TUNNEL_GATEWAY_RATE = env.str("TALKEE_TUNNEL_GATEWAY_RATE", default="120000/min")
# Queries per tunnel session (a client's authenticated ephemeral key), through either door:
# what one person behind a shared resolver may use (a 20-frame sync page is 81 queries; 200/s
# leaves room for a faster codec's bulk sync). Over it: REFUSED for that session only.
TALKEE_TUNNEL_SESSION_RATE = env.str("TALKEE_TUNNEL_SESSION_RATE", default="12000/min")

# --- encrypted file blobs (apps/blobs) --------------------------------------------------
# Opaque ciphertext under random names; any Django storage can replace the file system.
TALKEE_BLOB_DIR = Path(env.str("TALKEE_BLOB_DIR", default=str(VAR_DIR / "blobs")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "blobs": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(TALKEE_BLOB_DIR),
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    },
}
# Upload chunk size handed to clients (the last chunk of a blob may be shorter).
TALKEE_BLOB_CHUNK_SIZE = env.int("TALKEE_BLOB_CHUNK_SIZE", default=1024 * 1024)
# Bytes each user may start uploading per quota window (charged at POST /v1/blobs).
TALKEE_BLOB_QUOTA_BYTES = env.int("TALKEE_BLOB_QUOTA_BYTES", default=1024 * 1024 * 1024)
TALKEE_BLOB_QUOTA_WINDOW_SECONDS = env.int("TALKEE_BLOB_QUOTA_WINDOW_SECONDS", default=24 * 3600)
# An upload must be completed and sent in a message within this time, or it is purged.
TALKEE_BLOB_UPLOAD_TTL_SECONDS = env.int("TALKEE_BLOB_UPLOAD_TTL_SECONDS", default=24 * 3600)
# A file sent in a chat homed on another instance is kept here until the home has ordered
# the message (and pulled the file): as long as this, then purged if the home never did.
TALKEE_FEDERATION_BLOB_HOLD_SECONDS = env.int("TALKEE_FEDERATION_BLOB_HOLD_SECONDS", default=7 * 24 * 3600)
# A stored file that no row names is deleted once it is this old (see purge_orphan_files).
TALKEE_BLOB_ORPHAN_AGE_SECONDS = env.int("TALKEE_BLOB_ORPHAN_AGE_SECONDS", default=24 * 3600)

# --- Web Push (apps/push): off unless a VAPID subject (a `mailto:` or `https:` URL that
# push services may use to reach the operator) is set; the key sits beside the instance key.
TALKEE_VAPID_SUBJECT = env.str("TALKEE_VAPID_SUBJECT", default="")
# Tests only: accept a push service on loopback (plain http). Private, link-local and
# loopback endpoints are refused otherwise (no server-side request forgery).
TALKEE_PUSH_ALLOW_LOOPBACK = env.bool("TALKEE_PUSH_ALLOW_LOOPBACK", default=False)
# Each push service request gives up after this long (the notify task runs in the worker).
TALKEE_PUSH_TIMEOUT_SECONDS = env.float("TALKEE_PUSH_TIMEOUT_SECONDS", default=5.0)
# One push per device covers every message of this many seconds (a burst is one push).
TALKEE_PUSH_COALESCE_SECONDS = env.float("TALKEE_PUSH_COALESCE_SECONDS", default=3.0)
TALKEE_PUSH_DEVICE_RATE = env.str("TALKEE_PUSH_DEVICE_RATE", default="30/min")
TALKEE_PUSH_MAX_ATTEMPTS = env.int("TALKEE_PUSH_MAX_ATTEMPTS", default=6)
TALKEE_PUSH_RETRY_BASE_SECONDS = env.float("TALKEE_PUSH_RETRY_BASE_SECONDS", default=2.0)
TALKEE_PUSH_MESSAGE_TTL_SECONDS = env.int("TALKEE_PUSH_MESSAGE_TTL_SECONDS", default=12 * 3600)
TALKEE_PUSH_CALL_TTL_SECONDS = env.int("TALKEE_PUSH_CALL_TTL_SECONDS", default=45)
# A call's signals (offer, ICE candidates, repeated offers) within this many seconds queue
# one notify task per chat and ring each device once.
TALKEE_PUSH_CALL_REPEAT_SECONDS = env.int("TALKEE_PUSH_CALL_REPEAT_SECONDS", default=5)

# --- i18n / static ----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "collected-static"
STATICFILES_DIRS = [BASE_DIR / "static"]
TALKEE_APP_DIR = BASE_DIR / "static" / "app"

# --- logging: structured JSON lines to stdout, nothing that links a sender to a message
# Logs: JSON lines (apps/core/logging.py), each with the request id; to stdout, or to the
# file LOG_FILE names (reopened when logrotate moves it); level LOG_LEVEL.
LOG_FILE = env.str("LOG_FILE", default="")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId", "correlation_id_field": "request_id"},
        "no_api_paths": {"()": "apps.core.logging.DropApiPathRecords"},
    },
    "formatters": {"json": {"()": "apps.core.logging.JsonFormatter"}},
    "handlers": {
        "out": (
            {"class": "logging.handlers.WatchedFileHandler", "filename": LOG_FILE}
            if LOG_FILE
            else {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
        )
        | {"formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["out"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR", "filters": ["no_api_paths"]},
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
        # One line per periodic task run is noise; failures are still logged.
        "celery.app.trace": {"level": "WARNING"},
    },
}


from django_guid.integrations import CeleryIntegration  # noqa: E402

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "UUID_FORMAT": "string",
    "VALIDATE_GUID": True,  # a client's own X-Request-ID is kept only if it is a UUID
    "EXPOSE_HEADER": False,
    # Tasks get the id of the request that queued them (periodic ones a new one each).
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True)],
}

# /metrics (README, Operations): answered to the internal network (a loopback or private
# address, not through the front) and to anyone sending `Authorization: Bearer <this>`.
TALKEE_METRICS_TOKEN = env.str("TALKEE_METRICS_TOKEN", default="")

# Sent on every response (SecurityMiddleware, apps/core/headers.py; README, Operations).
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Calls and voice messages need camera and microphone, and screen sharing in a call the
# screen (display-capture), from this origin only; nothing else is granted.
TALKEE_PERMISSIONS_POLICY = (
    "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=(), serial=(), midi=()"
)

# Content-Security-Policy (django-csp): only this origin's scripts (and WebAssembly: the MLS
# and crypto cores), workers, connections (the socket: `'self'` covers ws/wss to this origin,
# the public URL's own ws(s) named for older engines), images also from blob: and data:
# (decrypted files, generated avatars), audio and video also from blob: (decrypted voice
# messages); no frames around it, no plugins, no <base>.
# README, Operations; the browser suite fails on any violation (tests/e2e/app/conftest.py).
from csp.constants import NONE, SELF  # noqa: E402

_SOCKET_ORIGIN = TALKEE_PUBLIC_URL.replace("https://", "wss://", 1).replace("http://", "ws://", 1).rstrip("/")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, "'wasm-unsafe-eval'"],
        "worker-src": [SELF],
        "connect-src": [SELF, _SOCKET_ORIGIN],
        "img-src": [SELF, "blob:", "data:"],
        "media-src": [SELF, "blob:"],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [NONE],
    }
}
