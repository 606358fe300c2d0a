"""How long an admin login lasts: the brand's setting (Brand.admin_session_hours, default 12 h) on
a brand host, PLATFORM_ADMIN_SESSION_HOURS for platform operators; never beyond
SESSION_COOKIE_AGE. Set once at login (crm/admin_sites.py) as an instant, not as seconds of
inactivity: the session ends that long after the login, however busy it is."""

import datetime as dt

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def admin_session_seconds(request: HttpRequest) -> int:
    brand = getattr(request, "tenant", None)
    if brand is None or brand.is_platform:
        return min(settings.PLATFORM_ADMIN_SESSION_HOURS * 3600, settings.SESSION_COOKIE_AGE)
    return min(brand.admin_session_hours * 3600, settings.SESSION_COOKIE_AGE)


def admin_session_limit(request: HttpRequest) -> None:
    """Call right after a login: the session expires admin_session_seconds from now."""
    request.session.set_expiry(timezone.now() + dt.timedelta(seconds=admin_session_seconds(request)))
