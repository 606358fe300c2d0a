"""`Authorization: Api-Key <key>` against the keys of the brand whose host was called."""

import functools
from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from crm.errors import AppError

from .models import ApiKey
from .services import api_key_verify_and_count
from .throttling import rate_window, request_counted

KEYWORD = "Api-Key"


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiKey, ApiKey] | None:
        # Read as text: DRF's get_authorization_header() raises on non-latin-1 input (a 500).
        header = str(request.META.get("HTTP_AUTHORIZATION", "")).split()
        if not header or header[0].lower() != KEYWORD.lower():
            return None  # no key: NotAuthenticated (401) once a permission needs one
        if len(header) != 2 or not header[1].isascii():
            raise exceptions.AuthenticationFailed(code="api_key_invalid")
        raw_key = header[1]
        view = (request.parser_context or {}).get("view")
        try:
            api_key, counted = api_key_verify_and_count(
                raw_key=raw_key, rate=functools.partial(rate_window, view) if view is not None else None
            )
        except AppError as exc:
            raise exceptions.AuthenticationFailed(code=exc.code) from exc
        if counted is not None:
            request_counted(request._request, *counted)
        return api_key, api_key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when the key is missing.
        return KEYWORD

    def __repr__(self) -> str:
        return "ApiKeyAuthentication"


def request_api_key(request: Any) -> ApiKey:
    """The verified key of an authenticated API request."""
    api_key = getattr(request, "auth", None)
    if not isinstance(api_key, ApiKey):
        raise exceptions.NotAuthenticated()
    return api_key
