"""xmppsite settings: everything overridable from the environment (see README)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


XMPP_DATA_DIR = Path(os.environ.get("XMPP_DATA_DIR", BASE_DIR / "var")).resolve()
XMPP_DOMAINS = env_list("XMPP_DOMAINS", "localhost")
XMPP_BIND = os.environ.get("XMPP_BIND", "127.0.0.1")
XMPP_C2S_PORT = int(os.environ.get("XMPP_C2S_PORT", "5222"))
XMPP_TLS_PORT = int(os.environ.get("XMPP_TLS_PORT", "5223"))
XMPP_S2S_PORT = int(os.environ.get("XMPP_S2S_PORT", "5269"))
XMPP_HTTP_PORT = int(os.environ.get("XMPP_HTTP_PORT", "5280"))
XMPP_HTTPS_PORT = int(os.environ.get("XMPP_HTTPS_PORT", "5281"))  # HTTPS and wss://, c2s certificate; 0 = off
# RFC 7395: Origins of browser pages allowed on /xmpp-websocket ("*" = any); clients sending no
# Origin (not browsers) are always let in. XEP-0156 advertises ws:// and wss:// on the ports above.
XMPP_WS_ALLOWED_ORIGINS = env_list("XMPP_WS_ALLOWED_ORIGINS", "*")
XMPP_WS_SEE_OTHER_URI = os.environ.get("XMPP_WS_SEE_OTHER_URI", "")  # RFC 7395 §3.6.1: send clients there
XMPP_WS_CONSIDER_SECURE = env_bool("XMPP_WS_CONSIDER_SECURE", False)  # ws:// is behind a TLS proxy
# XEP-0124/XEP-0206 BOSH at /http-bind: the most a client may ask for (seconds; requests = hold + 1).
XMPP_BOSH_MAX_WAIT = int(os.environ.get("XMPP_BOSH_MAX_WAIT", "60"))
XMPP_BOSH_MAX_HOLD = int(os.environ.get("XMPP_BOSH_MAX_HOLD", "1"))
XMPP_BOSH_MAX_INACTIVITY = int(os.environ.get("XMPP_BOSH_MAX_INACTIVITY", "60"))  # no request for this long ends it
XMPP_BOSH_MAX_PAUSE = int(os.environ.get("XMPP_BOSH_MAX_PAUSE", "120"))  # XEP-0124 §10 'maxpause'; 0 = no pausing
XMPP_BOSH_POLLING = int(os.environ.get("XMPP_BOSH_POLLING", "2"))  # shortest polling interval (§12)
XMPP_BOSH_CORS_ORIGINS = env_list("XMPP_BOSH_CORS_ORIGINS", "*")  # browser Origins allowed ("*" = any)
XMPP_BOSH_CONSIDER_SECURE = env_bool("XMPP_BOSH_CONSIDER_SECURE", False)  # http:// is behind a TLS proxy
XMPP_REQUIRE_TLS = env_bool("XMPP_REQUIRE_TLS", True)
XMPP_ALLOW_REGISTRATION = env_bool("XMPP_ALLOW_REGISTRATION", False)
XMPP_TLS_CERT = os.environ.get("XMPP_TLS_CERT", "")
XMPP_TLS_KEY = os.environ.get("XMPP_TLS_KEY", "")
XMPP_MAX_STANZA_SIZE = int(os.environ.get("XMPP_MAX_STANZA_SIZE", str(256 * 1024)))
XMPP_MAX_DEPTH = int(os.environ.get("XMPP_MAX_DEPTH", "64"))
XMPP_ADMINS = env_list("XMPP_ADMINS", "")
# Domain administrators for the operator commands: "domain=jid1 jid2;domain2=jid3".
XMPP_DOMAIN_ADMINS = os.environ.get("XMPP_DOMAIN_ADMINS", "")
# Usernames nobody may register in-band (XEP-0077); the administrators' JIDs are reserved too.
XMPP_RESERVED_USERNAMES = env_list("XMPP_RESERVED_USERNAMES", "admin,administrator,root,postmaster,abuse,"
                                   "support,hostmaster,webmaster,security,noc,info,sysadmin,operator,"
                                   "system,server,staff,help,xmpp,jabber")
# XEP-0070 /auth/xmpp/: attempts per client address, prompts per target account, per minute (0: no limit).
XMPP_HTTP_AUTH_PER_ADDRESS = int(os.environ.get("XMPP_HTTP_AUTH_PER_ADDRESS", "10"))
XMPP_HTTP_AUTH_PER_ACCOUNT = int(os.environ.get("XMPP_HTTP_AUTH_PER_ACCOUNT", "5"))
# host:port: serve /admin/ and /api/ only on this separate HTTP listener (empty: on XMPP_HTTP_PORT).
XMPP_ADMIN_HTTP_BIND = os.environ.get("XMPP_ADMIN_HTTP_BIND", "")
# KEY=VALUE lines the `reload` command reads over the environment (default <XMPP_DATA_DIR>/xmppd.env).
XMPP_ENV_FILE = os.environ.get("XMPP_ENV_FILE", "")
XMPP_SCRAM_ITERATIONS = int(os.environ.get("XMPP_SCRAM_ITERATIONS", "4096"))
XMPP_OFFLINE_QUOTA = int(os.environ.get("XMPP_OFFLINE_QUOTA", "1000"))
XMPP_PING_INTERVAL = float(os.environ.get("XMPP_PING_INTERVAL", "300"))
XMPP_PING_TIMEOUT = float(os.environ.get("XMPP_PING_TIMEOUT", "60"))
XMPP_AUTH_FAILURE_DELAY_MAX = float(os.environ.get("XMPP_AUTH_FAILURE_DELAY_MAX", "5"))
XMPP_RATE_LIMIT_BYTES = int(os.environ.get("XMPP_RATE_LIMIT_BYTES", str(1024 * 1024)))  # per second per c2s
XMPP_MAX_CONNECTIONS = int(os.environ.get("XMPP_MAX_CONNECTIONS", "20000"))
XMPP_LOGIN_TIMEOUT = float(os.environ.get("XMPP_LOGIN_TIMEOUT", "120"))  # connect → bound resource
XMPP_MAX_UNAUTH_PER_IP = int(os.environ.get("XMPP_MAX_UNAUTH_PER_IP", "30"))  # not yet bound, per address
XMPP_MAX_RESOURCES = int(os.environ.get("XMPP_MAX_RESOURCES", "10"))  # bound resources per account
XMPP_MAX_ROSTER_ITEMS = int(os.environ.get("XMPP_MAX_ROSTER_ITEMS", "1000"))  # roster items per account
XMPP_MAX_PENDING_SUBSCRIPTIONS = int(os.environ.get("XMPP_MAX_PENDING_SUBSCRIPTIONS", "1000"))  # unanswered inbound requests per account
XMPP_OFFLINE_PER_SENDER = int(os.environ.get("XMPP_OFFLINE_PER_SENDER", "100"))  # per sender and recipient
XMPP_CSI_QUEUE_MAX = int(os.environ.get("XMPP_CSI_QUEUE_MAX", "256"))  # XEP-0352: held stanzas per inactive client
# XEP-0138 stream compression: off | plain (only on unencrypted streams) | always (also under TLS:
# compressing secrets next to attacker-chosen text leaks them, CRIME-style; docs/compression.md).
XMPP_COMPRESSION = os.environ.get("XMPP_COMPRESSION", "off")
XMPP_COMPRESSION_MAX_INFLATE = int(os.environ.get("XMPP_COMPRESSION_MAX_INFLATE", str(1024 * 1024)))
# Message archive (XEP-0313, archive/): the default preference of users who set none
# (always | never | roster), the largest page of a query, days kept (0: forever; expired by
# the Celery beat task archive.expire_messages), and the write buffer's flush period/size.
XMPP_MAM_DEFAULT = os.environ.get("XMPP_MAM_DEFAULT", "always")
XMPP_MAM_MAX_PAGE = int(os.environ.get("XMPP_MAM_MAX_PAGE", "100"))
XMPP_MAM_RETENTION_DAYS = int(os.environ.get("XMPP_MAM_RETENTION_DAYS", "0"))
XMPP_MAM_FLUSH_INTERVAL = float(os.environ.get("XMPP_MAM_FLUSH_INTERVAL", "0.1"))
XMPP_MAM_FLUSH_ROWS = int(os.environ.get("XMPP_MAM_FLUSH_ROWS", "500"))
# XEP-0198: how long a cut session waits for <resume/> (its 'max'; 0 = no resumption), and how
# many stanzas a client may leave unacknowledged before its stream (or kept session) ends.
XMPP_SM_RESUME_TIMEOUT = float(os.environ.get("XMPP_SM_RESUME_TIMEOUT", "300"))
XMPP_SM_MAX_UNACKED = int(os.environ.get("XMPP_SM_MAX_UNACKED", "5000"))
XMPP_SM_MAX_UNACKED_BYTES = int(os.environ.get("XMPP_SM_MAX_UNACKED_BYTES", str(8 * 1024 * 1024)))  # the same, in bytes
XMPP_SM_REQUEST_EVERY = int(os.environ.get("XMPP_SM_REQUEST_EVERY", "5"))  # an <r/> after this many stanzas
XMPP_SM_REQUEST_DELAY = float(os.environ.get("XMPP_SM_REQUEST_DELAY", "1"))  # ... or this long after one

# Component hosts (xmppd/hosts.py): each service's address, "{domain}" for every user domain;
# an empty value turns the service off.
XMPP_MUC_HOST = os.environ.get("XMPP_MUC_HOST", "conference.{domain}")
XMPP_MUC_HISTORY = int(os.environ.get("XMPP_MUC_HISTORY", "20"))  # history length of new rooms (0-200)
# Rooms one user may own when creating another (0: no limit); over it: <not-allowed/> (§10.1.1).
XMPP_MUC_MAX_ROOMS_PER_USER = int(os.environ.get("XMPP_MUC_MAX_ROOMS_PER_USER", "100"))
# Messages an occupant may send to a room: "rate/burst" a second ("" or "0": no limit); over it
# the message bounces with <resource-constraint/> type wait.
XMPP_MUC_MESSAGE_RATE = os.environ.get("XMPP_MUC_MESSAGE_RATE", "10/20")
XMPP_PUBSUB_HOST = os.environ.get("XMPP_PUBSUB_HOST", "pubsub.{domain}")
XMPP_PROXY_HOST = os.environ.get("XMPP_PROXY_HOST", "proxy.{domain}")
XMPP_UPLOAD_HOST = os.environ.get("XMPP_UPLOAD_HOST", "upload.{domain}")
# Pubsub (issue 10): nodes one owner may have on the service, and PEP nodes per account; 0 = no limit.
XMPP_PUBSUB_MAX_NODES = int(os.environ.get("XMPP_PUBSUB_MAX_NODES", "1000"))

# Protocol modules, loaded by xmppd at startup (DESIGN.md "Adding an extension").
XMPP_MODULES = env_list(
    "XMPP_MODULES",
    ",".join([
        "plugins.message",
        "archive.xmpp",  # before carbons: received copies carry the <stanza-id/>
        "plugins.carbons",
        "plugins.csi",
        "plugins.compression",
        "plugins.sm",
        "plugins.disco",
        "plugins.ping",
        "plugins.version",
        "plugins.time",
        "plugins.last",
        "accounts.xmpp",
        "rosters.xmpp",
        "offline.xmpp",
        "vcards.xmpp",
        "vcards.avatar",
        "plugins.caps",
        "privatexml.xmpp",
        "pubsub.xmpp",
        "muc.xmpp",
        "xmppd.transports.websocket",
        "xmppd.transports.bosh",
        "xmppd.hostmeta",
        "commands.runtime",
        "commands.adhoc",
        "commands.rpc",
        "commands.soap",
        "commands.httpauth",
    ]),
)

def _secret_key() -> str:
    """DJANGO_SECRET_KEY, else one generated once and kept in the data dir."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = XMPP_DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        import secrets

        XMPP_DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        # Created owner-only: never readable by others, not even between a write and a chmod.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]") + XMPP_DOMAINS

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "xmppd",
    "accounts",
    "rosters",
    "offline",
    "archive",
    "vcards",
    "privatexml",
    "pubsub",
    "muc",
    "commands",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "xmppsite.security.SecurityMiddleware",  # Secure cookies over HTTPS; XMPP_ADMIN_HTTP_BIND
    # Static files before anything else touches the request (WhiteNoise, async under Daphne).
    "xmppsite.staticfiles.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "xmppsite.urls"
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
WSGI_APPLICATION = None
ASGI_APPLICATION = "xmppsite.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{XMPP_DATA_DIR / 'xmppsite.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = None  # one persistent connection per thread
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3 connection pool (Django ≥ 5.1).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 20}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    # A file (not :memory:) so the server's DB thread and the tests share it; one per
    # process so that concurrent test runs on one machine do not trample each other.
    DATABASES["default"]["TEST"] = {"NAME": str(XMPP_DATA_DIR / f"test-{os.getpid()}.sqlite3")}

REDIS_URL = os.environ.get("REDIS_URL", "")
# With Redis, every xmppd process is a node of one cluster (replicated session table).
XMPP_CLUSTER = env_bool("XMPP_CLUSTER", bool(REDIS_URL))
XMPP_CLUSTER_PREFIX = os.environ.get("XMPP_CLUSTER_PREFIX", "xmppsite")  # Redis keys of this cluster
if REDIS_URL:
    CHANNEL_LAYERS = {
        # capacity: messages waiting on one channel (a session's) before a send is refused;
        # channels-redis defaults to 100, less than one burst of a busy chat (xmppd/cluster.py
        # waits and retries, then stores or bounces what still does not fit).
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                    "CONFIG": {"hosts": [REDIS_URL], "capacity": 2000}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# XEP-0115 (plugins/caps.py): verified client capabilities (ver -> disco#info), kept across
# restarts so that a restarted server does not ask every client again. Entries are
# content-addressed and checked again when read, so a file cache per node is safe.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "caps": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
             "LOCATION": os.environ.get("XMPP_CAPS_CACHE_DIR", str(XMPP_DATA_DIR / "caps-cache")),
             "TIMEOUT": 90 * 24 * 3600, "OPTIONS": {"MAX_ENTRIES": 20000}},
}
# XEP-0049 (privatexml/): bytes of private XML one account may store (all namespaces).
XMPP_PRIVATE_QUOTA = int(os.environ.get("XMPP_PRIVATE_QUOTA", str(1024 * 1024)))

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://")
# With the in-memory broker, `xmppd` runs an embedded worker thread (commands/worker.py):
# long commands are asynchronous without Redis or RabbitMQ.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "cache+memory://")
# Periodic tasks (`celery -A xmppsite beat`): the archive's retention sweep, hourly; the
# deletion of expired pubsub items (pubsub#item_expire), every ten minutes.
CELERY_BEAT_SCHEDULE = {
    "archive-expire-messages": {"task": "archive.expire_messages", "schedule": 3600.0},
    "pubsub-expire-items": {"task": "pubsub.expire_items", "schedule": 600.0},
}

# The Django admin's staff passwords (XMPP account passwords are SCRAM's business).
AUTH_PASSWORD_VALIDATORS: list[dict] = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Static files (the admin's, and static/) come from the one process through WhiteNoise. In
# production they are collected into STATIC_ROOT (by `manage.py xmppd` at start-up when missing or
# stale, so by `make run` too) with content-hashed names cached for a year, plus .gz and .br
# copies. XMPP_STATIC_FROM_APPS=true serves them unhashed straight from the apps' static/ dirs
# with no collecting (development, and the tests but the ones of the collected path).
XMPP_STATIC_FROM_APPS = env_bool("XMPP_STATIC_FROM_APPS", False)
STATIC_ROOT = XMPP_DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if XMPP_STATIC_FROM_APPS
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = XMPP_STATIC_FROM_APPS or DEBUG  # DEBUG: edits show without collecting
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("XMPP_LOG_LEVEL", "INFO")},
}
