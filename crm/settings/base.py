"""Settings shared by every environment. Values that differ per machine come from the environment."""

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("CRM_DATA_DIR", BASE_DIR / ".data"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)

# Brands are reached as <slug>.<BASE_DOMAIN>; the bare BASE_DOMAIN is the platform (public) site.
BASE_DOMAIN = os.environ.get("BASE_DOMAIN", "localhost")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [BASE_DOMAIN, f".{BASE_DOMAIN}"])

# --- Tenancy -----------------------------------------------------------------------------------
# Public schema: brands, domains, platform operators, the celery beat schedule.
SHARED_APPS = [
    # The back office's theme (django-unfold): first, so its admin templates win over Django's
    # and over django-tenants' (whose inline styles the Content-Security-Policy refuses).
    "unfold",
    "django_tenants",
    "crm.tenancy",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
]
# One schema per brand. auth/admin/sessions are in both lists: the public admin is for platform
# operators, each brand has its own users and sessions in its own schema.
# The order is also the order of the demo seeders (crm/demo.py): each builds on the previous.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "crm.jobs",
    "members",
    "consent",
    "crm.api",
    "wecom",
    "campaigns",
    "webhooks",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenancy.Brand"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
PUBLIC_SCHEMA_NAME = "public"
# New brands are cloned from this migrated template schema instead of migrating from scratch.
TENANT_BASE_SCHEMA = "brand_template"
# How a new brand's schema is made (crm/tenancy/services.py, docs/scale-out.md):
# - clone: a copy of the migrated template (fast; plain PostgreSQL);
# - migrate: the migrations run in the new schema (on Citus with citus.enable_schema_based_sharding
#   on, every table is created distributed in the brand's distributed schema);
# - clone_distribute: a clone, then citus_schema_distribute() outside the transaction, which moves
#   it to a worker (a clone alone would stay on the Citus coordinator).
BRAND_SCHEMA_CREATION = os.environ.get("BRAND_SCHEMA_CREATION", "clone")
if BRAND_SCHEMA_CREATION not in ("clone", "migrate", "clone_distribute"):
    raise ImproperlyConfigured("BRAND_SCHEMA_CREATION must be clone, migrate or clone_distribute")
TENANT_CREATION_FAKES_MIGRATIONS = True
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
ROOT_URLCONF = "crm.urls_brand"
PUBLIC_SCHEMA_URLCONF = "crm.urls_public"
# An unknown host is a 404, never somebody else's site.
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# Send `SET search_path` only when the schema changes, not before every query: it halves the
# round trips of every request and task (django-tenants tracks the connection's current path).
TENANT_LIMIT_SET_CALLS = True

MIDDLEWARE = [
    "crm.tenancy.middleware.BrandHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's own, skipped under /api/ (crm/browser_middleware.py says why).
    "crm.browser_middleware.SessionMiddleware",
    # Chinese for the browser pages whatever the browser asks; the partner API negotiates.
    "crm.browser_middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "crm.browser_middleware.CsrfViewMiddleware",
    "crm.browser_middleware.AuthenticationMiddleware",
    "crm.browser_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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

WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

# --- Database ----------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `python3 dev.py serve` starts an embedded PostgreSQL and sets it."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
# django-tenants' backend with a health check that costs no round trip (crm/db/backend/base.py).
DATABASES["default"]["ENGINE"] = "crm.db.backend"
# Server-side parameter binding, and statements prepared once a connection has run them 5 times
# (psycopg's threshold): the hot paths (order ingest, key check) are the same few statements
# again and again, and planning them was ~1.2 ms of PostgreSQL CPU per order (bench/README.md).
# Django's default binds on the client and never prepares. A prepared statement is re-planned
# by PostgreSQL when search_path changes, so one connection serving several brands stays
# correct. Behind PgBouncer in transaction mode this needs PgBouncer >= 1.21 with
# max_prepared_statements set; or set DATABASE_PREPARE_THRESHOLD=off.
_prepare_threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")
DATABASES["default"].setdefault("OPTIONS", {}).update(
    server_side_binding=True,
    prepare_threshold=None if _prepare_threshold == "off" else int(_prepare_threshold),
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: shared between processes, every key prefixed with the current schema ----------------
CACHE_URL = os.environ.get("CACHE_URL", "")


def cache_config(url: str = "", *, table: str = "crm_cache") -> dict[str, Any]:
    """The default cache for a CACHE_URL: Redis for redis://..., else a table in the public schema
    (still shared by web, worker and beat). Keys carry the brand's schema either way. Tests that
    swap the cache build it here too, so each backend gets only its own options."""
    keys = {"KEY_FUNCTION": "django_tenants.cache.make_key", "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key"}
    if url.startswith("redis"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, **keys}
    return {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": table,
        # Django culls a third of the table past 300 entries by default, which would forget rate
        # counters and lockouts under load; an entry is small.
        "OPTIONS": {"MAX_ENTRIES": 100_000},
        **keys,
    }


CACHES = {"default": cache_config(CACHE_URL)}

# --- Auth, sessions ----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Host-only cookies: a session on brand A's host is never sent to brand B's host (and brand B's
# schema has no such session row anyway).
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
LOGIN_URL = "admin:login"

# --- Language and time -------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
# Chinese-style dates and times in the back office: 2026-11-07 07:39 (crm/formats/).
FORMAT_MODULE_PATH = ["crm.formats"]
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Celery ------------------------------------------------------------------------------------
# Without a broker server, kombu's filesystem transport keeps messages in files under .data/broker
# (development only: single machine, no priorities, polling).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or "filesystem://localhost/"
if CELERY_BROKER_URL.startswith("filesystem"):
    # The filesystem:// scheme means kombu's filesystem transport with atomic writes
    # (crm/dev_broker.py says why). Mapped by scheme, not by CELERY_BROKER_TRANSPORT, which would
    # win over any broker URL given later (a test pointing the broker elsewhere).
    import kombu.transport

    kombu.transport.TRANSPORT_ALIASES["filesystem"] = "crm.dev_broker:Transport"
    _broker_dir = DATA_DIR / "broker"
    # The transport needs its folders to exist before web, worker or beat first touch them.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (pidbox) messages; kombu's default is ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# At-least-once delivery: a task is acknowledged only after it ran, and re-queued if its worker
# dies. Tasks must therefore be idempotent (unique constraints make them so).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "crm.tenancy.scheduler:BrandAwareScheduler"
CELERY_TASK_TENANT_CACHE_SECONDS = 30
DJANGO_CELERY_BEAT_TZ_AWARE = True
# Nightly jobs: one public entry per job, fanned out to every ready brand (crm/tenancy/tasks.py).
# Apps add their entries here: {"name": {"task": "tenancy.run_in_every_brand", "args": ["<task>"],
# "schedule": crontab(...)}}.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Campaign occurrences missed while beat or the broker was down (campaigns/tasks.py).
    "campaigns-catch-up": {
        "task": "tenancy.run_in_every_brand",
        "args": ["campaigns.catch_up"],
        "schedule": 600.0,
    },
    # Delivery results of WeCom group messages (campaigns/messaging.py).
    # Occurrences whose send task was lost after the commit (campaigns/messaging.py).
    "campaigns-send-lost-messages": {
        "task": "tenancy.run_in_every_brand",
        "args": ["campaigns.send_lost_messages"],
        "schedule": 600.0,
    },
    "campaigns-poll-wecom-results": {
        "task": "tenancy.run_in_every_brand",
        "args": ["campaigns.poll_wecom_results"],
        "schedule": 900.0,
    },
}
CAMPAIGN_CATCH_UP_GRACE_MINUTES = int(os.environ.get("CAMPAIGN_CATCH_UP_GRACE_MINUTES", "360"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# === Partner API (crm.api) — appended block, owned by the partner API; see crm/api/ ===========
# drf-spectacular and its sidecar assets have no models: shared apps, available on every host.
SHARED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK = {
    # Only API keys authenticate partner calls; the base view (crm.api.views.BrandApiView) sets
    # them too, these defaults only make a view that forgets the base class closed, not open.
    "DEFAULT_AUTHENTICATION_CLASSES": ["crm.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "crm.api.openapi.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "crm.api.exceptions.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "会员运营平台 Partner API",
    "DESCRIPTION": (
        "Partner REST API of one brand, served on the brand's own host. Authenticate with "
        "`Authorization: Api-Key <key>`. Every POST accepts `Idempotency-Key`. Errors are "
        "`application/problem+json` with a stable `code`; `detail` follows `Accept-Language` (zh-hans, en)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets shared by several fields get one stable component name each.
    "ENUM_NAME_OVERRIDES": {
        "PurposeEnum": "consent.models.Purpose",
        "IdentityKindEnum": "members.models.IdentityKind",
        "SalesChannelEnum": "members.models.SalesChannel",
        "PointsEntryKindEnum": "members.models.PointsEntry.Kind",
        "DataRequestKindEnum": "consent.models.DataRequest.Kind",
        "GenderEnum": "members.models.Member.Gender",
    },
    "APPEND_COMPONENTS": {},
    "PREPROCESSING_HOOKS": ["crm.api.openapi.only_partner_api"],
}
# Requests per API key per window, counted in the shared cache (keys are prefixed by the brand).
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "1200/min")
# Largest request body the API reads (bytes); larger bodies are refused with 413 before parsing.
# The order batch endpoint has its own, 4 MiB (members.apis.ORDERS_BATCH_BODY_BYTES); the API
# reads bodies within its limits past DATA_UPLOAD_MAX_MEMORY_SIZE (crm.api.views.read_large_body).
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(1024 * 1024)))
# Idempotency-Key responses are kept at least this long (then removed by the cleanup task).
API_IDEMPOTENCY_RETENTION_HOURS = 24
# Webhooks: attempts before a delivery is given up, and the first retry delay (doubled each time).
API_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("API_WEBHOOK_MAX_ATTEMPTS", "8"))
API_WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("API_WEBHOOK_RETRY_BASE_SECONDS", "30"))
API_WEBHOOK_TIMEOUT_SECONDS = 10.0  # per socket operation; the attempt as a whole is bounded below
# One delivery attempt, connect to last byte (a receiver dripping bytes must not hold the worker),
# and the most of its answer we read: only the status matters, a larger answer fails the attempt.
API_WEBHOOK_DEADLINE_SECONDS = float(os.environ.get("API_WEBHOOK_DEADLINE_SECONDS", "15"))
API_WEBHOOK_MAX_RESPONSE_BYTES = 64 * 1024
# A WeCom API call (crm.egress bounds it the same way); its answers are JSON, a page of customers
# at most a few hundred KB.
WECOM_API_DEADLINE_SECONDS = float(os.environ.get("WECOM_API_DEADLINE_SECONDS", "20"))
WECOM_API_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
# Outbound calls (webhook URLs set by partners, the WeCom API address set by brand admins) to
# loopback, private, link-local or metadata addresses would let them reach our own network (SSRF);
# only development and tests allow them. The old name is still read from the environment.
EGRESS_ALLOW_PRIVATE_HOSTS = env_bool("EGRESS_ALLOW_PRIVATE_HOSTS", env_bool("API_WEBHOOK_ALLOW_PRIVATE_HOSTS", False))
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "api.idempotency_cleanup_all_brands": {"task": "api.idempotency_cleanup_all_brands", "schedule": 3600.0},
    # Deliveries whose task was lost (webhooks.services.WEBHOOK_STALLED_AFTER) are sent again.
    # The entry and task names keep their api. prefix (webhooks/tasks.py says why).
    "api.webhook_sweep_all_brands": {"task": "api.webhook_sweep_all_brands", "schedule": 600.0},
}
# === end of Partner API block ==================================================================

# === Loyalty nightly jobs (members: points, tiers) — appended block, see members/tasks.py =====
# Brand-local time matters little here: each job compares with "now", so running at 02:xx
# Shanghai time just keeps them off peak. Release before expiry, expiry before tiers.
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE["members-release-pending-points"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["members.release_pending_points"],
    "schedule": crontab(hour=2, minute=15),
}
CELERY_BEAT_SCHEDULE["members-expire-points"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["members.expire_points"],
    "schedule": crontab(hour=2, minute=30),
}
CELERY_BEAT_SCHEDULE["members-reevaluate-tiers"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["members.reevaluate_tiers"],
    "schedule": crontab(hour=2, minute=45),
}
# Lifecycle stages drop back as purchases leave the window, so this one is about the brand's day:
# the fan-out is hourly and each brand's task runs its day's refresh at the first tick from
# MEMBERS_LIFECYCLE_BRAND_HOUR o'clock brand time (04:05 Shanghai: after the tier re-evaluation,
# whose top tier counts as loyalty), or resumes an interrupted one (members/services/lifecycle.py).
MEMBERS_LIFECYCLE_BRAND_HOUR = 4
CELERY_BEAT_SCHEDULE["members-refresh-lifecycle"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["members.refresh_lifecycle"],
    "schedule": crontab(minute=5),
}
# === end of loyalty nightly jobs block =========================================================

# === Consent nightly job (consent/tasks.py) — appended block, owned by consent ==================
from celery.schedules import crontab  # noqa: E402

# Prove each brand's consent current-state table agrees with its consent history (history wins).
CELERY_BEAT_SCHEDULE["consent-state-audit"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["consent.state_audit"],
    "schedule": crontab(hour=3, minute=30),
}
# === end of consent block =======================================================================

# === WeCom assignment (wecom: transfers, round-robin, prospects) — appended block ===========
# Transfers settle on WeCom's side within 24 h (the customer may refuse): polling every 15 minutes
# shows the outcome soon enough without spending the corp's API quota. Unowned members are
# distributed nightly, after the day's callbacks and enrolments had their chance to assign them.
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE["wecom-transfers-poll"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["wecom.transfers_poll"],
    "schedule": 900.0,
}
CELERY_BEAT_SCHEDULE["wecom-prospects-link"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["wecom.prospects_link_pending"],
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["wecom-members-unassigned-distribute"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["wecom.members_unassigned_distribute"],
    "schedule": crontab(hour=3, minute=10),
}
# === end of WeCom assignment block ==============================================================

# === Dashboard (dashboard/) — appended block, owned by the dashboard =============================
# The brand admin's first screen; its aggregates live in each brand's schema and are rebuilt
# hourly (dashboard/services.py), so a page view never scans members or orders.
TENANT_APPS += ["dashboard"]
INSTALLED_APPS += ["dashboard"]
CELERY_BEAT_SCHEDULE["dashboard-refresh"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["dashboard.refresh"],
    "schedule": 3600.0,
}
# === end of dashboard block =====================================================================

# === Login protection (crm/logins: django-axes) — appended block ===============================
# Failed admin logins are counted and a username is locked out for a while (issue 21, finding 6).
# axes keeps its records in the database, in the schema where the user lives: in both app lists,
# like django.contrib.auth, so a lockout on one brand never touches another brand or the platform.
import datetime as dt  # noqa: E402

SHARED_APPS += ["axes", "crm.logins"]
TENANT_APPS += ["axes", "crm.logins"]
INSTALLED_APPS += ["axes", "crm.logins"]
# axes' backend first: it refuses a locked-out username before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Last, as axes requires. It only turns a refused login into the lockout page: under /api/ nothing
# logs in (API keys are not logins), so it passes partner calls through untouched.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# By username, not by IP: a store's staff share one IP, and locking the IP would lock out the
# whole store; an attacker who rotates IPs is still stopped. Anyone may lock a known username
# for the cool-off this way; the brand admin can unlock it at once (登录锁定).
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
# A successful login forgets earlier typos; a failure while locked out starts the cool-off again.
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "crm.logins.lockout.lockout_response"
# The records are shown on our own admin sites (crm/logins/admin.py), never on admin.site.
AXES_ENABLE_ADMIN = False
# No banner on every manage.py command and process start (the settings above say what it would).
AXES_VERBOSE = False
# axes.W006 wants the IP among the lockout parameters. Logins are locked by username on purpose
# (above): a store's staff share one IP, and the per-username lock is not bypassed by rotating
# user agents, cookies or IPs. Silenced in every environment, so no command prints it.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# Admin sessions end this long after login (brands: Brand.admin_session_hours); never later than
# SESSION_COOKIE_AGE.
PLATFORM_ADMIN_SESSION_HOURS = int(os.environ.get("PLATFORM_ADMIN_SESSION_HOURS", "12"))
# === end of login protection block ==============================================================

# === Content-Security-Policy (django-csp) — appended block ======================================
# Every page's scripts, styles, images and fonts come from this host (static files, whitenoise):
# no CDN, so an injected tag cannot load or run anything from elsewhere, and the pages work
# offline. The few inline <style> blocks (and one script) carry the request's nonce
# ({{ request.csp_nonce }}), so no 'unsafe-inline'. Enforced in every environment, so
# development and the browser tests (tests/browser/test_csp.py) see what production sends. The
# partner API under /api/ (JSON, and its Redoc page) gets no header (crm/browser_middleware.py).
from csp.constants import NONCE, NONE, SELF  # noqa: E402

_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE.insert(_after_security, "crm.browser_middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        # The nonce only for the platform's periodic task form (templates/admin/djcelery/).
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# === end of Content-Security-Policy block =======================================================

# === Back office theme (django-unfold) — appended block ==================================
# django-unfold restyles django.contrib.admin (sidebar, tabs, filters, dashboard components) and
# ships its fonts, icons and scripts as static files: nothing comes from a CDN. The brand and
# platform sites subclass its UnfoldAdminSite (crm/admin_sites.py); every ModelAdmin subclasses
# unfold.admin.ModelAdmin. Its pages need a looser policy than the rest (crm/browser_middleware.py).
# The theme's login form posts no "next" field: after a plain login, go to the back office.
LOGIN_REDIRECT_URL = "/admin/"
UNFOLD = {
    "SITE_TITLE": "会员运营后台",
    "SITE_HEADER": "会员运营后台",
    "SITE_SYMBOL": "loyalty",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
    },
}
# === end of back office theme block ===============================================================

# === Coupons (优惠券) — appended block ===========================================================
# Templates, code pools, issuing from every source, write-off and reversal (coupons/, layer 6:
# below campaigns and engagement, above wecom; members and consent below it).
TENANT_APPS += ["coupons"]
INSTALLED_APPS += ["coupons"]
# Coupons past their end become EXPIRED (with their history) every 15 minutes in every brand; a
# coupon's own end is checked at use anyway, so this only keeps states and reports current.
CELERY_BEAT_SCHEDULE["coupons-expire"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["coupons.expire"],
    "schedule": 900.0,
}
# Expiry reminders: hourly; each brand writes its reminders from its own reminder hour (brand
# time) and never twice (coupons/reminders.py).
CELERY_BEAT_SCHEDULE["coupons-remind"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["coupons.remind_expiring"],
    "schedule": crontab(minute=20),
}
# === end of coupons block ========================================================================

# === One item, one code (scancodes) — appended block ============================================
# Code batches, segments, scans and claims live in each brand's schema.
TENANT_APPS += ["scancodes"]
INSTALLED_APPS += ["scancodes"]
# Wrong claim codes tolerated per IP and per serial within the window before scans are refused.
SCANCODES_FAILURES_PER_IP = int(os.environ.get("SCANCODES_FAILURES_PER_IP", "10"))
SCANCODES_FAILURES_PER_SERIAL = int(os.environ.get("SCANCODES_FAILURES_PER_SERIAL", "5"))
SCANCODES_FAILURE_WINDOW_SECONDS = int(os.environ.get("SCANCODES_FAILURE_WINDOW_SECONDS", "900"))
# Path of ip2region_v4.xdb (lionsoul2014/ip2region, Apache-2.0); empty: the small shipped table.
SCANCODES_IP2REGION_XDB = os.environ.get("SCANCODES_IP2REGION_XDB", "")
# The diversion digest of a brand's yesterday is mailed from this hour of the brand's own clock to
# those who may see the alerts (scancodes/digest.py); the hourly fan-out makes it brand-local.
SCANCODES_DIGEST_BRAND_HOUR = int(os.environ.get("SCANCODES_DIGEST_BRAND_HOUR", "8"))
CELERY_BEAT_SCHEDULE["scancodes-diversion-digest"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["scancodes.diversion_digest_send"],
    "schedule": crontab(minute=20),
}
# === end of scancodes block =====================================================================

# === Engagement (check-in, birthday benefits, growth value) — appended block, see engagement/ ====
# A brand app below campaigns, above wecom (pyproject's layers). Its birthday job is a tick every
# hour fanned out to every brand: each brand's run releases its brand days up to its own today
# (catching up missed days) and does nothing more until the brand's next day begins.
TENANT_APPS += ["engagement"]
INSTALLED_APPS += ["engagement"]
CELERY_BEAT_SCHEDULE["engagement-birthday-release"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["engagement.birthday_release"],
    "schedule": crontab(minute=10),
}
CELERY_BEAT_SCHEDULE["engagement-referral-release"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["engagement.referral_release"],
    "schedule": crontab(minute=25),
}
CELERY_BEAT_SCHEDULE["engagement-checkin-reminders"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["engagement.checkin_reminders"],
    "schedule": crontab(minute=2),
}
# === end of engagement block ===================================================================

# === Staff performance (导购业绩) — appended block ===============================================
# Touches, the per-order attribution (decided in the order's transaction through a rider on the
# order insert, members/hooks.py) and the reports per staff, store and period.
TENANT_APPS += ["performance"]
INSTALLED_APPS += ["performance"]
# The report rollups (performance/rollups.py) up to yesterday, after midnight in every brand.
CELERY_BEAT_SCHEDULE["performance-rollups"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["performance.rollups_refresh"],
    "schedule": crontab(hour=1, minute=20),
}
# === end of staff performance block ============================================================

# === Store workbench (门店工作台) — appended block ===================================
# The home of store roles (workbench/): search, today's tasks, the member 360° page, offline
# orders, enrolment on the customer's phone, staff logins. django_htmx only for its static htmx
# (the enrolment screen polls its status without a reload; served from this host, CSP 'self').
TENANT_APPS += ["workbench"]
INSTALLED_APPS += ["workbench", "django_htmx"]
# A new staff login's "set your password" link (Django's password-reset token) works for 3 days.
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600
# === end of store workbench block ================================================================

# === Member centre (membercentre/) — appended block, owned by the member centre ==================
# The member's own pages on the brand host under /m/ (card, member code, sign-in by SMS code or
# WeChat web authorisation) and the mini-program API. Its rows live in each brand's schema.
TENANT_APPS += ["membercentre"]
INSTALLED_APPS += ["membercentre"]
# Links that leave a request (the 退订 footer of an SMS, a WeCom message) name the brand's primary
# domain with this scheme and port (consent.services.links.brand_url).
MEMBER_LINK_SCHEME = os.environ.get("MEMBER_LINK_SCHEME", "https")
MEMBER_LINK_PORT = os.environ.get("MEMBER_LINK_PORT", "")
# Replies to SMS (退订) reach /sms/replies/ on the brand host, signed by the provider with this
# shared secret (campaigns.sms); without one every callback is refused.
SMS_CALLBACK_SECRET = os.environ.get("SMS_CALLBACK_SECRET", "")
CELERY_BEAT_SCHEDULE["membercentre-codes-purge"] = {
    "task": "tenancy.run_in_every_brand",
    "args": ["membercentre.codes_purge"],
    "schedule": crontab(hour=4, minute=40),
}
# === end of member centre block ===================================================================
