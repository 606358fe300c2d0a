"""SMS goes through a provider interface: the real gateway is outside this system (and outside
this machine), so development and tests use the logging provider, and a deployment names its
provider class in settings.CAMPAIGN_SMS_PROVIDER. A provider that calls a gateway over HTTP does
so through crm.egress.egress_request (address checked and pinned, answer capped, one deadline per
call), like webhooks and WeCom; the sending task's celery time limits (campaigns.tasks) bound the
batch."""

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    # The outbox row id: providers that deduplicate by client reference get exactly-once sends.
    reference: str
    mobile: str
    body: str


@dataclass(frozen=True)
class SmsResult:
    reference: str
    accepted: bool
    provider_msgid: str = ""
    error: str = ""


class SmsProvider(Protocol):
    def send_batch(self, messages: list[SmsMessage]) -> list[SmsResult]: ...


class SmsCallbackRejected(Exception):
    """The provider's callback failed verification (signature, age, shape): nothing is done."""


class SmsInboundProvider(Protocol):
    """The inbound half of a provider: turns its reply callback (上行短信推送) into SmsReply items,
    after verifying it came from the provider (raise SmsCallbackRejected otherwise), and says
    what to answer so the provider stops retrying."""

    def replies_parse(self, *, headers: Mapping[str, str], body: bytes) -> list["SmsReply"]: ...

    def replies_ack(self) -> tuple[str, str]: ...  # (content type, body)


# The callback format of the reference provider (development, tests, and any gateway that can sign
# its pushes this way): POST JSON {"replies": [{"msgid", "mobile", "text"}, ...]} with
#   X-Sms-Timestamp: unix seconds (±CALLBACK_MAX_SKEW of now)
#   X-Sms-Signature: hex HMAC-SHA256(settings.SMS_CALLBACK_SECRET, f"{timestamp}.{body}")
CALLBACK_MAX_SKEW = 300
CALLBACK_MAX_REPLIES = 500


def callback_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_replies_parse(*, headers: Mapping[str, str], body: bytes, secret: str) -> list["SmsReply"]:
    if not secret:
        raise SmsCallbackRejected("SMS_CALLBACK_SECRET is not set")
    timestamp = headers.get("X-Sms-Timestamp", "")
    signature = headers.get("X-Sms-Signature", "")
    if not timestamp.isdigit() or abs(timezone.now().timestamp() - int(timestamp)) > CALLBACK_MAX_SKEW:
        raise SmsCallbackRejected("timestamp missing or too old")
    if not hmac.compare_digest(signature, callback_signature(secret=secret, timestamp=timestamp, body=body)):
        raise SmsCallbackRejected("bad signature")
    try:
        payload: Any = json.loads(body)
    except ValueError:
        raise SmsCallbackRejected("not JSON") from None
    items = payload.get("replies") if isinstance(payload, dict) else None
    if not isinstance(items, list) or len(items) > CALLBACK_MAX_REPLIES:
        raise SmsCallbackRejected("no replies list")
    replies = []
    for item in items:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("msgid", "mobile", "text")):
            raise SmsCallbackRejected("a reply lacks msgid, mobile or text")
        if not item["msgid"].strip():
            raise SmsCallbackRejected("empty msgid")
        replies.append(SmsReply(reference=item["msgid"].strip()[:128], mobile=item["mobile"], text=item["text"][:200]))
    return replies


class SignedCallbackInbound:
    """Inbound half of the logging (reference) provider: the signed JSON format above."""

    def replies_parse(self, *, headers: Mapping[str, str], body: bytes) -> list["SmsReply"]:
        return signed_replies_parse(headers=headers, body=body, secret=getattr(settings, "SMS_CALLBACK_SECRET", ""))

    def replies_ack(self) -> tuple[str, str]:
        return "application/json", '{"code": 0, "msg": "ok"}'


class LoggingSmsProvider(SignedCallbackInbound):
    """Development provider: logs and accepts everything, and remembers what it was given; its
    reply callbacks are the signed JSON format above."""

    sent: list[SmsMessage] = []

    def send_batch(self, messages: list[SmsMessage]) -> list[SmsResult]:
        for message in messages:
            logger.info("SMS to %s (%s): %s", message.mobile, message.reference, message.body)
        LoggingSmsProvider.sent.extend(messages)
        return [SmsResult(reference=m.reference, accepted=True, provider_msgid=f"log-{m.reference}") for m in messages]


def sms_inbound_provider() -> SmsInboundProvider:
    """The configured provider's inbound half (the same class as sms_provider's)."""
    provider = sms_provider()
    if not hasattr(provider, "replies_parse"):
        raise SmsCallbackRejected("the SMS provider takes no reply callbacks")
    return provider  # type: ignore[return-value]


def sms_provider() -> SmsProvider:
    path = getattr(settings, "CAMPAIGN_SMS_PROVIDER", "campaigns.sms.LoggingSmsProvider")
    provider: SmsProvider = import_string(path)()
    return provider


def checkin_reminders_by_sms(messages: list[Any]) -> dict[str, str]:
    """engagement's check-in reminders through this provider (registered in CampaignsConfig.ready:
    engagement sits below campaigns and cannot reach the provider itself)."""
    results = sms_provider().send_batch(
        [SmsMessage(reference=m.reference, mobile=m.mobile, body=m.body) for m in messages]
    )
    by_reference = {r.reference: r for r in results}
    answer: dict[str, str] = {}
    for m in messages:
        result = by_reference.get(m.reference)
        answer[m.reference] = (
            "" if result is not None and result.accepted else (result.error if result else "") or "未被接收"
        )
    return answer


# Replies that unsubscribe (退订): the keyword every marketing SMS names (consent.services.links
# SMS_UNSUBSCRIBE_KEYWORD) and the words people actually send back.
UNSUBSCRIBE_REPLIES = frozenset({"T", "TD", "N", "退订", "退", "取消"})


@dataclass(frozen=True)
class SmsReply:
    """An inbound SMS as the provider's reply hook delivers it (the provider's adapter builds it
    from the gateway's callback and hands it to campaigns.messaging.sms_reply_receive)."""

    reference: str  # the gateway's id of the reply
    mobile: str
    text: str
