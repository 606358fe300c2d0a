"""SMS goes through a provider interface: the real gateway is outside this system (and outside
this machine), so development and tests use the logging provider, and a deployment names its
provider class in settings.CAMPAIGN_SMS_PROVIDER. A provider that calls a gateway over HTTP does
so through crm.egress.egress_request (address checked and pinned, answer capped, one deadline per
call), like webhooks and WeCom; the sending task's celery time limits (campaigns.tasks) bound the
batch."""

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
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


class LoggingSmsProvider:
    """Development provider: logs and accepts everything, and remembers what it was given."""

    sent: list[SmsMessage] = []

    def send_batch(self, messages: list[SmsMessage]) -> list[SmsResult]:
        for message in messages:
            logger.info("SMS to %s (%s): %s", message.mobile, message.reference, message.body)
        LoggingSmsProvider.sent.extend(messages)
        return [SmsResult(reference=m.reference, accepted=True, provider_msgid=f"log-{m.reference}") for m in messages]


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
