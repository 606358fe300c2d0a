"""`handler500` of both URLconfs: a request that failed outside a view's own error handling.

The usual case is the database: the host → brand look-up (crm/tenancy/middleware.py) is every
request's first query, so with the server down or its connections exhausted every URL failed
there, before any view, and Django answered its HTML error page — to the load balancer's
/healthz and to partners alike. Here /healthz answers its JSON 503 naming what failed and the
partner API its problem+json (503 `service_unavailable` when a service cannot be reached, else
500 `internal_error`); other pages keep Django's. Django has logged the exception already
(logger `django.request`), and with DEBUG on it shows its debug page instead of calling this.
"""

import sys
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.views import defaults

from crm.api.error_codes import error_detail
from crm.api.exceptions import PROBLEM_CONTENT_TYPE, problem_body, service_unavailable
from crm.browser_middleware import API_PREFIX
from crm.dependencies import dependency_down
from crm.health import health_failure


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls handler500 while it handles the exception, so it is the one being handled.
    exc = sys.exc_info()[1]
    dependency = dependency_down(exc) if exc is not None else None
    path = request.path_info
    if path == "/healthz" and exc is not None:
        return health_failure(dependency or "web", exc)
    if path.startswith(API_PREFIX):
        # LocaleMiddleware may not have run: the partner's Accept-Language, read here, as it would.
        with translation.override(translation.get_language_from_request(request)):
            if dependency is not None:
                return _problem(service_unavailable(dependency))
            return _problem(problem_body(status=500, code="internal_error", detail=error_detail("internal_error")))
    return defaults.server_error(request)


def _problem(body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(
        body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE, json_dumps_params={"ensure_ascii": False}
    )
