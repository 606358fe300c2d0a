"""One exception handler for the partner API: everything that can go wrong in a request is
rendered as `application/problem+json` (RFC 9457) with a stable `code`:

    {"type": "about:blank", "title": "请求有误", "status": 400, "code": "invalid_input",
     "detail": "请求参数有误，请查看 fields。", "fields": {"url": ["请输入合法的URL。"]}}

`fields` maps a field (dotted for nested ones, `non_field_errors` for the object itself) to its
messages; it is present, possibly empty, on every problem so clients can read it blindly.

A service the API needs that cannot be reached (database, cache, broker) is a 503
`service_unavailable` naming it in `dependency`: the request may succeed if retried later.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from crm.dependencies import dependency_down
from crm.errors import ERROR_TEXTS, AppError, localized

from .error_codes import DEPENDENCY_NAMES, TEXTS, TITLES, api_error, error_detail, readable_bytes

__all__ = ["api_error", "problem_body", "problem_exception_handler", "problem_response", "service_unavailable"]

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_body(
    *, status: int, code: str, detail: str, fields: dict[str, list[str]] | None = None, **members: Any
) -> dict[str, Any]:
    """The problem document; `members` are extension members (RFC 9457 section 3.2)."""
    title = TITLES.get(status)
    return {
        "type": "about:blank",
        "title": str(title) if title else localized("错误", "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        "fields": fields or {},
        **members,
    }


def problem_response(
    *,
    status: int,
    code: str,
    detail: str,
    fields: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> Response:
    body = problem_body(status=status, code=code, detail=detail, fields=fields, **members)
    return Response(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def service_unavailable(dependency: str) -> dict[str, Any]:
    """The problem document of a request that failed because `dependency` cannot be reached."""
    name = str(DEPENDENCY_NAMES[dependency])
    return problem_body(
        status=503,
        code="service_unavailable",
        detail=error_detail("service_unavailable", dependency=name),
        dependency=dependency,
    )


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"a.b.0.c": [messages]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]} if detail else {}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def _app_error_detail(exc: AppError) -> str:
    # Services raise AppError with a Chinese message; an English caller gets the code's English
    # text (every code has one: crm/errors.py).
    registered = ERROR_TEXTS.get(exc.code)
    if registered is not None and localized("zh", "en") == "en":
        try:
            return registered.en.format(**exc.extra)
        except (KeyError, IndexError):
            return exc.message
    return str(exc.message)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER. Never returns None: an unexpected error is logged and still
    answered as a problem (the request's transaction was already rolled back by BrandApiView)."""
    headers: dict[str, str] = {}
    if isinstance(exc, AppError):
        return problem_response(
            status=exc.status,
            code=exc.code,
            detail=_app_error_detail(exc),
            fields=exc.fields,
            headers=exc.extra.get("headers"),
        )
    if isinstance(exc, Http404):
        return problem_response(status=404, code="not_found", detail=error_detail("not_found"))
    if isinstance(exc, DjangoPermissionDenied):
        return problem_response(status=403, code="permission_denied", detail=error_detail("permission_denied"))
    if isinstance(exc, RequestDataTooBig):
        # Django's own cap on a body read into memory; BrandApiView reads the API's bodies past it
        # (views.raw_body), so this answers only a view that does not.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        return problem_response(
            status=413,
            code="body_too_large",
            detail=error_detail("body_too_large", limit=limit, size=readable_bytes(limit)),
        )
    if isinstance(exc, drf.APIException):
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        if isinstance(exc, drf.ValidationError):
            return problem_response(
                status=400,
                code="invalid_input",
                detail=error_detail("invalid_input"),
                fields=flatten_errors(exc.detail),
            )
        if isinstance(exc, drf.Throttled):
            # DRF already rounds the wait up.
            wait = max(1, int(exc.wait or 1))  # type: ignore[attr-defined]  # DRF's Throttled stub lacks wait
            headers["Retry-After"] = str(wait)
            return problem_response(
                status=429, code="throttled", detail=error_detail("throttled", wait=wait), headers=headers
            )
        if isinstance(exc, drf.NotAuthenticated):
            return problem_response(
                status=401, code="not_authenticated", detail=error_detail("not_authenticated"), headers=headers
            )
        if isinstance(exc, drf.AuthenticationFailed):
            code = exc.get_codes() if isinstance(exc.get_codes(), str) else "api_key_invalid"
            code = code if code in TEXTS else "api_key_invalid"
            return problem_response(status=401, code=code, detail=error_detail(code), headers=headers)
        if isinstance(exc, drf.PermissionDenied):
            return problem_response(
                status=exc.status_code, code="permission_denied", detail=error_detail("permission_denied")
            )
        if isinstance(exc, drf.ParseError):
            return problem_response(status=400, code="malformed_body", detail=error_detail("malformed_body"))
        if isinstance(exc, drf.UnsupportedMediaType):
            return problem_response(
                status=415, code="unsupported_media_type", detail=error_detail("unsupported_media_type")
            )
        if isinstance(exc, drf.NotAcceptable):
            return problem_response(status=406, code="not_acceptable", detail=error_detail("not_acceptable"))
        if isinstance(exc, drf.MethodNotAllowed):
            method = context["request"].method if context.get("request") else "?"
            return problem_response(
                status=405, code="method_not_allowed", detail=error_detail("method_not_allowed", method=method)
            )
        if isinstance(exc, drf.NotFound):
            return problem_response(status=404, code="not_found", detail=error_detail("not_found"))
        return problem_response(status=exc.status_code, code=str(exc.default_code), detail=str(exc.detail))
    dependency = dependency_down(exc)
    if dependency is not None:
        # An outage, not a bug: logged once per request without the traceback noise of one.
        logger.error("partner API: %s unavailable: %s: %s", dependency, type(exc).__name__, exc)
        return Response(service_unavailable(dependency), status=503, content_type=PROBLEM_CONTENT_TYPE)
    logger.exception("partner API: unhandled error", exc_info=exc)
    return problem_response(status=500, code="internal_error", detail=error_detail("internal_error"))
