"""The per-brand WeCom callback URL: `https://<brand host>/wecom/callback/`.

The brand is the host's brand (django-tenants has switched to its schema), so only that brand's
token, key and corp id can produce a request this view accepts. The view only verifies, stores
and answers: WeCom waits 5 seconds before re-delivering, so the work happens in a task.
"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.errors import AppError

from . import services


@csrf_exempt  # WeCom cannot send a CSRF token; the message signature authenticates the request.
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest) -> HttpResponse:
    try:
        if request.method == "GET":
            plaintext = services.callback_url_verify(query=request.GET)
            return HttpResponse(plaintext, content_type="text/plain; charset=utf-8")
        services.callback_receive(query=request.GET, body=request.body)
    except AppError as exc:
        # The code only: a caller probing with forged requests learns nothing more.
        return HttpResponse(exc.code, status=exc.status, content_type="text/plain; charset=utf-8")
    return HttpResponse("success", content_type="text/plain; charset=utf-8")
