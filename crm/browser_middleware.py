"""Django's session, CSRF, user and messages middleware (and the CSP header), skipped for the
partner API.

Those four serve the browser pages (admin, portal): a cookie session, the user in it, CSRF
protection of cookie-authenticated forms, flash messages. A partner API request carries an
`Authorization: Api-Key` header and no cookie; DRF authenticates it and its views are CSRF-exempt,
so the four did nothing for it but cost ~3 % of a single-order request's CPU (bench/README.md,
session 5). Every path under API_PREFIX skips them; anything mounted there must not rely on a
session, `request.user` from the session, or CSRF. Other paths get them unchanged (the subclasses
only change `__call__`; CSRF's process_view still runs and refuses a non-exempt unsafe request).
"""

import zoneinfo
from typing import Any

from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import timezone, translation

API_PREFIX = "/api/"


class BrowserOnly:
    get_response: Any
    async_mode: bool

    def __call__(self, request: HttpRequest) -> Any:
        if not self.async_mode and request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(BrowserOnly, DjangoSessionMiddleware):
    pass


class CsrfViewMiddleware(BrowserOnly, DjangoCsrfViewMiddleware):
    pass


class AuthenticationMiddleware(BrowserOnly, DjangoAuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnly, DjangoMessageMiddleware):
    pass


class CSPMiddleware(BrowserOnly, DjangoCSPMiddleware):
    """The Content-Security-Policy of the browser pages (settings: CONTENT_SECURITY_POLICY). The
    partner API answers JSON, which no browser renders as a page: no policy to build per call."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if request.path.startswith(BACK_OFFICE_PREFIX):
            # The back office's theme (django-unfold) runs Alpine.js, which evaluates its x-data
            # expressions with new Function(): 'unsafe-eval'. Its templates also carry style=""
            # attributes and an un-nonced <style> of theme colours; a nonce in style-src would
            # make browsers ignore 'unsafe-inline', so the back office's style-src is replaced.
            # Scripts stay 'self' + nonce: no inline script runs without the nonce. The member
            # pages (consent, member centre) keep the strict policy.
            response._csp_update = {"script-src": ["'unsafe-eval'"]}  # type: ignore[attr-defined]
            response._csp_replace = {"style-src": ["'self'", "'unsafe-inline'"]}  # type: ignore[attr-defined]
        return super().process_response(request, response)


BACK_OFFICE_PREFIX = "/admin/"


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Simplified Chinese and the brand's time zone on every browser page; the partner API alone
    negotiates its language.

    The back office and the member pages are for people in China: a browser (or headless
    Chromium) announcing English must not turn them into "Save and add another" and
    "Nov. 7, 2026". A partner's Accept-Language still picks zh-hans or en for API errors
    (crm/api/error_codes.py)."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path_info.startswith(API_PREFIX):
            super().process_request(request)
            return
        translation.activate(settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = translation.get_language()
        # Times on the pages in the brand's own zone (the brand row of this host), not the server's.
        zone = getattr(getattr(request, "tenant", None), "time_zone", None)
        if zone:
            timezone.activate(zoneinfo.ZoneInfo(zone))

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if request.path_info.startswith(API_PREFIX):
            return super().process_response(request, response)
        response.headers.setdefault("Content-Language", settings.LANGUAGE_CODE)
        timezone.deactivate()
        return response
