"""Production: nothing insecure by default. Refuses to start with a missing or weak secret key,
DEBUG on, no named hosts or no broker. `manage.py check --deploy` has no warnings here; the two
it would give are silenced at the end, each with its reason. How to deploy: docs/deploy.md."""

import os

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DEBUG, SECRET_KEY, env_bool, env_list

if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in production.")
# Django's own rules (security.W009), as a refusal rather than a warning nobody reads: the key
# signs sessions and member links and keys the encryption of WeCom secrets.
if (
    len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
    or SECRET_KEY.startswith(SECRET_KEY_INSECURE_PREFIX)
):
    raise ImproperlyConfigured(
        f"SECRET_KEY is too weak for production: it needs at least {SECRET_KEY_MIN_LENGTH} characters, "
        f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} of them different, and no '{SECRET_KEY_INSECURE_PREFIX}' prefix "
        "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production.")

# The filesystem broker (base.py's fallback) serves one development machine: a worker on another
# machine would never see a message.
if CELERY_BROKER_URL.startswith("filesystem"):
    raise ImproperlyConfigured("CELERY_BROKER_URL must name the broker (e.g. redis://host:6379/0) in production.")

# No wildcard default: the operator names the hosts (e.g. "portal.example,.portal.example").
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the portal's hosts (no '*') in production.")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# TLS ends at the proxy, which must set X-Forwarded-Proto (and overwrite what a client sent).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Plain http is redirected to https, except /healthz: a load balancer probes it over http.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# HSTS: browsers then refuse plain http for this long. On every subdomain too, since the brands
# are <slug>.<BASE_DOMAIN>. Hard to take back once sent (a browser keeps it for the whole
# period): a first deployment may start with a few minutes (SECURE_HSTS_SECONDS=300).
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading asks browser vendors to ship the domain as https-only, for good: the domain's
# owner decides that (SECURE_HSTS_PRELOAD=true), not a default.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

SILENCED_SYSTEM_CHECKS = [
    # W003 looks for Django's CsrfViewMiddleware by its dotted path. The middleware here is that
    # class, skipped only under /api/ (crm/browser_middleware.py: the partner API authenticates
    # with a header, never a cookie), so every browser page has CSRF protection;
    # tests/tenancy/test_settings_guards.py holds that.
    "security.W003",
    # axes.W006 wants the IP among the lockout parameters. Logins are locked by username on
    # purpose (base.py): a store's staff share one IP, and the per-username lock is not bypassed
    # by rotating user agents, cookies or IPs.
    "axes.W006",
]
if not SECURE_HSTS_PRELOAD:
    # W021 asks for preloading, left to the domain's owner (above).
    SILENCED_SYSTEM_CHECKS.append("security.W021")
