"""Logins, sessions, cookies, lockouts and the Content-Security-Policy (production adds TLS: prod.py)."""

import datetime as dt
import os

from csp.constants import NONCE, NONE, SELF

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
# The theme's login form posts no "next" field: after a plain login, go to the back office.
LOGIN_REDIRECT_URL = "/admin/"
# A new staff login's "set your password" link (Django's password-reset token) works for 3 days.
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600
# Admin sessions end this long after login (brands: Brand.admin_session_hours); never later than
# SESSION_COOKIE_AGE.
PLATFORM_ADMIN_SESSION_HOURS = int(os.environ.get("PLATFORM_ADMIN_SESSION_HOURS", "12"))

# --- Login protection (django-axes, crm/logins) --------------------------------------------------
# Failed admin logins are counted and a username is locked out for a while. axes keeps its records
# in the schema where the user lives (apps.py), so a lockout never touches another brand.
# axes' backend first: it refuses a locked-out username before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
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

# --- Content-Security-Policy (django-csp; the middleware: web.py) --------------------------------
# Every page's scripts, styles, images and fonts come from this host (static files, whitenoise):
# no CDN, so an injected tag cannot load or run anything from elsewhere, and the pages work
# offline. The few inline <style> blocks (and one script) carry the request's nonce
# ({{ request.csp_nonce }}), so no 'unsafe-inline'. Enforced in every environment, so
# development and the browser tests (tests/browser/test_csp.py) see what production sends. The
# partner API under /api/ (JSON, and its Redoc page) gets no header (crm/browser_middleware.py).
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
