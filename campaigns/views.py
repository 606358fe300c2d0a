"""The SMS provider's reply callback (上行短信推送) on the brand host: the brand is the host's, the
provider's adapter (campaigns.sms, CAMPAIGN_SMS_PROVIDER) verifies the push and reads the
replies, and each reply is handled once per provider message id (a 退订 word withdraws SMS
marketing for that mobile in this brand)."""

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .messaging import sms_reply_callback_receive
from .sms import SmsCallbackRejected, sms_inbound_provider

logger = logging.getLogger(__name__)
CALLBACK_MAX_BYTES = 256 * 1024


@csrf_exempt  # a server-to-server push, authenticated by the provider's signature instead
@require_POST
def sms_replies(request: HttpRequest) -> HttpResponse:
    if int(request.headers.get("Content-Length") or 0) > CALLBACK_MAX_BYTES:
        return HttpResponse(status=413)
    try:
        provider = sms_inbound_provider()
        replies = provider.replies_parse(headers=request.headers, body=request.body)
    except SmsCallbackRejected as exc:
        logger.warning("SMS reply callback refused: %s", exc)
        return HttpResponse("refused", status=403, content_type="text/plain")
    for reply in replies:
        sms_reply_callback_receive(reply)
    content_type, body = provider.replies_ack()
    return HttpResponse(body, content_type=content_type)
