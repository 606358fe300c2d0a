"""WeCom writes: the brand's configuration, receiving callbacks, processing callback events."""

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.celery import send_on_commit
from crm.egress import EgressRefused, egress_url_check
from crm.errors import AppError, NotFound

from . import error_codes
from .assignment import follow_change_apply_in_transaction
from .client import DEFAULT_BASE_URL, WecomClient
from .crypto import CallbackCryptoError, CallbackGuard, envelope_encrypt_field, parse_xml, validate_encoding_aes_key
from .errors import InvalidExternalUserid, NoRelationship, WecomError
from .handlers import HANDLERS, FollowChange
from .models import CallbackEvent, WecomConfig
from .tasks import callback_event_process_task

logger = logging.getLogger(__name__)

CALLBACK_EVENT = "change_external_contact"


def callback_max_age() -> int:
    """Seconds a callback's timestamp may be off (either way) before it is refused as stale."""
    return int(getattr(settings, "WECOM_CALLBACK_MAX_AGE_SECONDS", 300))


def wecom_config_get() -> WecomConfig | None:
    return WecomConfig.objects.first()


def wecom_api_base_url_error(url: str) -> str:
    """Why `url` cannot be the WeCom API address, or "". The client sends the app secret to it:
    an address in our own network (loopback, private, link-local, the cloud metadata service) is
    refused unless settings.EGRESS_ALLOW_PRIVATE_HOSTS (development, tests); the client checks
    again at call time and connects to the address it checked (crm.egress)."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "API 地址不是有效的 URL。"
    try:
        egress_url_check(url)
    except EgressRefused:
        return "API 地址不允许指向内网、本机或云服务元数据地址，请填写企业微信的公网 API 地址（https://qyapi.weixin.qq.com/cgi-bin/）。"
    return ""


def wecom_config_save(
    *,
    corp_id: str,
    token: str,
    encoding_aes_key: str,
    secret: str | None = None,
    api_base_url: str = DEFAULT_BASE_URL,
    welcome_text: str = "",
) -> WecomConfig:
    """Create or update the brand's WeCom app. `secret=None` (or "") keeps the stored secret: the
    admin never shows it again, so an empty field means "unchanged"."""
    errors: dict[str, list[str]] = {}
    corp_id, token = corp_id.strip(), token.strip()
    if not corp_id:
        errors["corp_id"] = ["企业 ID 不能为空。"]
    if not (token.isascii() and token.isalnum() and 1 <= len(token) <= 32):
        errors["token"] = ["Token 须为 1–32 位英文字母或数字。"]
    try:
        validate_encoding_aes_key(encoding_aes_key)
    except ValueError as exc:
        errors["encoding_aes_key"] = [str(exc)]
    base_url_error = wecom_api_base_url_error(api_base_url)
    if base_url_error:
        errors["api_base_url"] = [base_url_error]
    with transaction.atomic():
        config = WecomConfig.objects.select_for_update().first() or WecomConfig()
        if not secret and not config.has_secret:
            errors["secret"] = ["请填写应用 Secret。"]
        if errors:
            raise AppError(error_codes.CONFIG_INVALID, "企业微信配置有误，请修改后重试。", fields=errors)
        config.corp_id = corp_id
        config.token = token
        config.encoding_aes_key = encoding_aes_key
        config.api_base_url = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        config.welcome_text = welcome_text
        if secret:
            config.set_secret(secret)
        config.save()
    return config


def _config_required() -> WecomConfig:
    config = wecom_config_get()
    if config is None:
        raise NotFound(error_codes.NOT_CONFIGURED, "本品牌尚未配置企业微信。")
    return config


def _crypto_refused(exc: CallbackCryptoError) -> AppError:
    return AppError(exc.code, exc.message, status=exc.status)


def _query(query: Mapping[str, str]) -> tuple[str, str, str]:
    return query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", "")


def callback_url_verify(*, query: Mapping[str, str]) -> str:
    """WeCom's URL check when the callback is configured: answer the decrypted echostr."""
    config = _config_required()
    signature, timestamp, nonce = _query(query)
    guard = CallbackGuard(max_age=callback_max_age())
    try:
        guard.check_fresh(timestamp)
        plaintext = config.crypt().verify_and_decrypt(
            msg_signature=signature, timestamp=timestamp, nonce=nonce, encrypt=query.get("echostr", "")
        )
        guard.mark_seen(timestamp, nonce, signature)
    except CallbackCryptoError as exc:
        raise _crypto_refused(exc) from exc
    return plaintext


def callback_receive(*, query: Mapping[str, str], body: bytes) -> tuple[CallbackEvent, bool]:
    """Verify, decrypt and store one event callback; enqueue its processing after commit.

    Returns (event, created). A re-delivery of a stored event (same decrypted fields) creates
    nothing and enqueues nothing, unless the stored one failed, in which case it is retried.
    Nothing is stored unless the signature, padding, receive id, freshness and replay checks pass.
    """
    config = _config_required()
    signature, timestamp, nonce = _query(query)
    guard = CallbackGuard(max_age=callback_max_age())
    try:
        guard.check_fresh(timestamp)
        encrypt = envelope_encrypt_field(body)
        xml = config.crypt().verify_and_decrypt(
            msg_signature=signature, timestamp=timestamp, nonce=nonce, encrypt=encrypt
        )
        fields = parse_xml(xml)
    except CallbackCryptoError as exc:
        raise _crypto_refused(exc) from exc
    try:
        event_time = datetime.fromtimestamp(int(fields.get("CreateTime", "")), tz=UTC)
    except ValueError as exc:
        raise AppError(error_codes.BAD_EVENT, "回调缺少有效的 CreateTime。") from exc
    try:
        seen_key = guard.mark_seen(timestamp, nonce, signature)
    except CallbackCryptoError as exc:
        raise _crypto_refused(exc) from exc
    try:
        return _callback_event_store(fields, event_time)
    except Exception:
        # Not stored: WeCom's re-delivery of this very request must not be refused as a replay.
        guard.forget(seen_key)
        raise


def _callback_event_store(fields: dict[str, str], event_time: datetime) -> tuple[CallbackEvent, bool]:

    with transaction.atomic():
        event, created = CallbackEvent.objects.get_or_create(
            natural_key=CallbackEvent.natural_key_of(fields),
            defaults={
                "event": fields.get("Event", "")[:64],
                "change_type": fields.get("ChangeType", "")[:64],
                "user_id": fields.get("UserID", "")[:64],
                "external_user_id": fields.get("ExternalUserID", "")[:64],
                "state": fields.get("State", "")[:64],
                "welcome_code": fields.get("WelcomeCode", "")[:128],
                "fail_reason": fields.get("FailReason", "")[:64],
                "source": fields.get("Source", "")[:64],
                "event_time": event_time,
                "payload": fields,
            },
        )
        if created:
            send_on_commit(callback_event_process_task, event.pk)
        elif event.status == CallbackEvent.Status.FAILED:
            CallbackEvent.objects.filter(pk=event.pk).update(
                status=CallbackEvent.Status.PENDING, updated_at=timezone.now()
            )
            send_on_commit(callback_event_process_task, event.pk)
    return event, created


def _contact_fetch(config: WecomConfig, external_userid: str) -> dict[str, Any] | None:
    """`externalcontact/get`, or None when WeCom no longer knows the relation (the customer was
    deleted before we processed the add): the event's own fields are then all there is."""
    with WecomClient.for_config(config) as client:
        try:
            return client.get_external_contact(external_userid)
        except (NoRelationship, InvalidExternalUserid):
            return None


def callback_event_process(*, event_id: int) -> FollowChange | None:
    """Apply one stored event to the follow relations, exactly once in effect.

    The WeCom API call (contact details) happens before the transaction so no row lock is held
    across the network; the event row is then locked and re-checked, so two workers given the
    same event (celery delivers at least once) apply it once. Retryable WeCom errors propagate
    for the task to retry; the event stays pending.
    """
    event = CallbackEvent.objects.get(pk=event_id)
    if event.status in (CallbackEvent.Status.PROCESSED, CallbackEvent.Status.IGNORED):
        return None
    CallbackEvent.objects.filter(pk=event_id).update(attempts=F("attempts") + 1, updated_at=timezone.now())
    handler = HANDLERS.get(event.change_type) if event.event == CALLBACK_EVENT else None
    config = wecom_config_get()
    contact = None
    if handler is not None and handler.needs_contact and config is not None and event.external_user_id:
        contact = _contact_fetch(config, event.external_user_id)
    with transaction.atomic():
        event = CallbackEvent.objects.select_for_update().get(pk=event_id)
        if event.status in (CallbackEvent.Status.PROCESSED, CallbackEvent.Status.IGNORED):
            return None
        change = handler.apply(event=event, contact=contact) if handler is not None else None
        if change is not None:
            # In this transaction, with the event row locked: a re-delivered or re-run event is
            # PROCESSED by then and never links or reassigns twice.
            follow_change_apply_in_transaction(change=change)
        event.status = CallbackEvent.Status.PROCESSED if handler is not None else CallbackEvent.Status.IGNORED
        event.error = ""
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "processed_at", "updated_at"])
    if change is not None and change.kind == "added" and change.applied and event.welcome_code and config is not None:
        _welcome_send(config, event)
    return change


def _welcome_send(config: WecomConfig, event: CallbackEvent) -> None:
    """Best effort, once: WeCom accepts a welcome code only within 20 s of the add, so retrying
    later is pointless, and 41051 means it was already delivered."""
    if not config.welcome_text:
        return
    try:
        with WecomClient.for_config(config) as client:
            client.send_welcome_msg(welcome_code=event.welcome_code, text=config.welcome_text)
    except WecomError as exc:
        logger.warning("welcome message for event %s not sent: %s", event.pk, exc)


def callback_event_fail(*, event_id: int, error: str) -> None:
    """Record that processing gave up; an admin (or WeCom's re-delivery) can retry it."""
    CallbackEvent.objects.filter(pk=event_id).exclude(status=CallbackEvent.Status.PROCESSED).update(
        status=CallbackEvent.Status.FAILED, error=error[:2000], updated_at=timezone.now()
    )


def callback_event_retry(*, event_id: int) -> bool:
    """Queue a failed event again. Returns False if it was not in the failed state."""

    with transaction.atomic():
        updated = CallbackEvent.objects.filter(pk=event_id, status=CallbackEvent.Status.FAILED).update(
            status=CallbackEvent.Status.PENDING, error="", updated_at=timezone.now()
        )
        if updated:
            send_on_commit(callback_event_process_task, event_id)
    return bool(updated)
