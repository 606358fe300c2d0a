"""Writes of the partner API plumbing: API keys, webhook subscriptions, webhook emission and
delivery, idempotency clean-up. Keyword-only, each owns its transaction."""

import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.celery import send_on_commit
from crm.errors import AppError, NotFound

from .error_codes import api_error, error_detail
from .keys import key_generate, key_split, secret_matches
from .models import ApiKey, IdempotencyRecord, Partner, Scope, WebhookDelivery, WebhookEvent, WebhookSubscription
from .remembered_keys import api_generation_renew, api_key_current, api_key_used
from .signing import signature_header
from .throttling import RateWindow

# last_used_at is informational; writing it on every request would turn each API call into a
# write on one hot row. Once a minute per key is enough to tell an admin a key is in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# --- API keys ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    # The only time the plaintext exists outside the partner's hands: show it once, never store it.
    plaintext: str


def api_key_scopes_validate(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        message = f"未知的权限范围：{', '.join(unknown)}" if unknown else "至少需要一个权限范围。"
        raise AppError("api_key_scopes_invalid", message, fields={"scopes": [message]})
    # Stored in the order of Scope, without duplicates, so two equal keys look equal.
    return [scope for scope in Scope.values if scope in scopes]


def api_key_create(*, partner_name: str, scopes: list[str], expires_at: datetime | None = None) -> CreatedApiKey:
    """Create a key for `partner_name` (created if new) in the current brand's schema."""
    partner_name = partner_name.strip()
    if not partner_name or len(partner_name) > 100:
        message = "合作方名称不能为空，且不超过 100 个字符。"
        raise AppError("api_key_partner_invalid", message, fields={"partner": [message]})
    clean_scopes = api_key_scopes_validate(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        message = "过期时间必须晚于现在。"
        raise AppError("api_key_expiry_invalid", message, fields={"expires_at": [message]})
    plaintext, prefix, hashed = key_generate()
    with transaction.atomic():
        partner, _ = Partner.objects.get_or_create(name=partner_name)
        api_key = ApiKey.objects.create(
            partner=partner, prefix=prefix, secret_hash=hashed, scopes=clean_scopes, expires_at=expires_at
        )
    return CreatedApiKey(api_key=api_key, plaintext=plaintext)


def api_key_revoke(*, api_key_id: int) -> ApiKey:
    """Revoke a key at once (the next request with it is refused). Revoking twice is harmless."""
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().filter(pk=api_key_id).first()
        if api_key is None:
            raise NotFound("api_key_not_found", "API 密钥不存在。")
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def api_key_verify(*, raw_key: str) -> ApiKey:
    """The active key of the current brand for `raw_key`, or AppError (401) saying why not.

    A key of another brand is simply not in this brand's schema, so it is `api_key_invalid`.
    """
    return api_key_verify_and_count(raw_key=raw_key)[0]


def api_key_verify_and_count(
    *, raw_key: str, rate: Callable[[str], RateWindow] | None = None
) -> tuple[ApiKey, tuple[str, int] | None]:
    """api_key_verify, and the request counted in the rate window `rate(prefix)` when that
    could be done in the same cache round trip as the key check: (counter, count), else None."""
    parts = key_split(raw_key)
    if parts is None:
        raise api_error("api_key_invalid", status=401)
    prefix, secret = parts
    api_key, counted = api_key_current(prefix, secret, _api_key_by_prefix, rate(prefix) if rate else None)
    if api_key is None or not secret_matches(secret, api_key.secret_hash):
        raise api_error("api_key_invalid", status=401)
    now = timezone.now()
    if api_key.is_revoked:
        raise api_error("api_key_revoked", status=401)
    if api_key.is_expired(now):
        raise api_error("api_key_expired", status=401)
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        # A conditional UPDATE outside any transaction: concurrent requests write at most once.
        ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gte=now - LAST_USED_RESOLUTION).update(
            last_used_at=now
        )
        api_key.last_used_at = now
        api_key_used(api_key)
    return api_key, counted


# Every API request runs this lookup. Written as one SQL statement because the ORM's query building
# for select_related + ArrayField costs ~1 ms of CPU per call, several times the query itself
# (bench/api_key_verify.py). Table names resolve through the brand's search_path like the ORM's.
_API_KEY_FIELDS = [field.attname for field in ApiKey._meta.concrete_fields]  # model order, as from_db wants
# Identifiers come from model metadata; the prefix is a query parameter.
_API_KEY_BY_PREFIX = (
    f"SELECT {', '.join(f'k.{name}' for name in _API_KEY_FIELDS)}, p.name "  # noqa: S608
    f"FROM {ApiKey._meta.db_table} k JOIN {Partner._meta.db_table} p ON p.id = k.partner_id "
    "WHERE k.prefix = %s"
)


def _api_key_by_prefix(prefix: str) -> ApiKey | None:
    with connection.cursor() as cursor:
        cursor.execute(_API_KEY_BY_PREFIX, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = ApiKey.from_db(connection.alias, _API_KEY_FIELDS, row[:-1])
    api_key.partner = Partner.from_db(connection.alias, ["id", "name"], [api_key.partner_id, row[-1]])
    return api_key


# --- Idempotency -----------------------------------------------------------------------------------
def idempotency_records_purge(*, older_than: datetime | None = None) -> int:
    """Delete stored idempotent responses older than the retention (24 h by default) in this brand."""
    cutoff = older_than or timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_RETENTION_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- Webhooks ----------------------------------------------------------------------------------------
def webhook_url_validate(url: str) -> None:
    """Refuse URLs that would make us call our own network (SSRF), unless settings allow it, and
    URLs a delivery could not use (no host, a port out of range, credentials in the URL)."""
    parsed = _webhook_url_parse(url)
    if not settings.API_WEBHOOK_ALLOW_PRIVATE_HOSTS:
        _webhook_addresses_resolve(parsed)


def _webhook_url_refused() -> AppError:
    return api_error("webhook_url_not_allowed", status=400, fields={"url": [str(_url_message())]})


def _webhook_url_parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise _webhook_url_refused() from None
    if (
        parsed.scheme not in {"http", "https"}
        or not parsed.raw_host
        or parsed.userinfo
        or not 0 < (parsed.port or 1) < 65536
    ):
        raise _webhook_url_refused()
    return parsed


def _webhook_addresses_resolve(parsed: httpx.URL) -> list[str]:
    """The addresses a delivery to `parsed` may connect to, all checked against our own network.

    Resolved once per attempt and then connected to directly (`_webhook_post`): if the request
    resolved the name again, a partner's DNS could answer a public address to this check and
    127.0.0.1 to the connection (DNS rebinding)."""
    default_port = 443 if parsed.scheme == "https" else 80
    try:
        host = parsed.raw_host.decode("ascii")  # IDNA form of an internationalised name
        # An AF_INET/AF_INET6 sockaddr's host is a str (the int form is for builds without IPv6).
        addresses = [cast(str, info[4][0]) for info in socket.getaddrinfo(host, parsed.port or default_port)]
    except (OSError, UnicodeError):
        addresses = []
    allowed = settings.API_WEBHOOK_ALLOW_PRIVATE_HOSTS or all(_address_public(address) for address in addresses)
    if not addresses or not allowed:
        raise _webhook_url_refused()
    return list(dict.fromkeys(addresses))


def _address_public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_global


def _webhook_post(url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST to `url` at an address checked by `_webhook_addresses_resolve`, trying them in turn
    (a dual-stack partner may not be reachable on its first): the URL names the address, `Host`
    and TLS SNI (which is also the name the certificate is verified against) name the partner's
    host, in its ASCII (IDNA) form."""
    parsed = _webhook_url_parse(url)
    failure: httpx.TransportError | None = None
    with httpx.Client(timeout=settings.API_WEBHOOK_TIMEOUT_SECONDS) as client:
        for address in _webhook_addresses_resolve(parsed):
            try:
                return client.post(
                    parsed.copy_with(host=address.split("%")[0]),
                    content=content,
                    headers={**headers, "Host": parsed.netloc.decode("ascii")},
                    extensions={"sni_hostname": parsed.raw_host.decode("ascii")},
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc
    assert failure is not None  # at least one address, or resolving refused the URL
    raise failure


def _url_message() -> str:
    return error_detail("webhook_url_not_allowed")


@dataclass(frozen=True)
class CreatedWebhookSubscription:
    subscription: WebhookSubscription
    secret: str  # shown to the partner once


def webhook_subscription_create(*, partner: Partner, url: str, events: list[str]) -> CreatedWebhookSubscription:
    unknown = sorted(set(events) - set(WebhookEvent.values))
    if unknown:
        raise api_error("webhook_event_unknown", status=400, event=", ".join(unknown))
    webhook_url_validate(url)
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            partner=partner,
            url=url,
            events=[event for event in WebhookEvent.values if event in events],
            secret=secret,
        )
    return CreatedWebhookSubscription(subscription=subscription, secret=secret)


def webhook_subscription_delete(*, partner: Partner, public_id: Any) -> None:
    """Stop deliveries to a subscription. The row stays (soft delete) so the delivery log keeps
    its context; pending deliveries are not sent any more."""
    with transaction.atomic():
        updated = WebhookSubscription.objects.filter(
            partner=partner, public_id=public_id, deleted_at__isnull=True
        ).update(deleted_at=timezone.now())
        if not updated:
            raise api_error("not_found", status=404)
        # A queryset update sends no post_save: tell the processes that remember subscriptions.
        api_generation_renew()


def webhook_emit(*, event: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    """Record `event` for every live subscription to it in the current brand, and send the
    deliveries once the caller's transaction commits (nothing is sent if it rolls back).

    Call inside the transaction of the change the event reports. `payload` must be JSON-serialisable
    and carry no personal data beyond what the partners' consent allows (member number, tier,
    balances — not names or mobile numbers).
    """
    return webhook_emit_many(event=event, payloads=[payload])


def webhook_emit_many(*, event: str, payloads: list[dict[str, Any]]) -> list[WebhookDelivery]:
    """`webhook_emit` for several occurrences of one event (a batch of orders): one query for the
    subscriptions and one insert, whatever the number of payloads."""
    if event not in WebhookEvent.values:
        raise api_error("webhook_event_unknown", status=400, event=event)
    if not payloads:
        return []
    json.dumps(payloads)  # fail now, in the caller's transaction, not later in the worker
    from .tasks import webhook_deliver

    with transaction.atomic():
        subscriptions = list(WebhookSubscription.objects.filter(deleted_at__isnull=True, events__contains=[event]))
        if not subscriptions:
            return []
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(subscription=subscription, event=event, payload=payload)
                for payload in payloads
                for subscription in subscriptions
            ]
        )
        for delivery in deliveries:
            send_on_commit(webhook_deliver, delivery.pk)
    return deliveries


# Deliveries per dispatch task of a set-based emission: enough that a million deliveries are a
# few thousand messages, few enough that workers share them out.
WEBHOOK_DISPATCH_BATCH = 500


def webhook_emit_select(*, event: str, payloads_sql: str, params: Sequence[Any]) -> int:
    """`webhook_emit_many` for payloads a query builds (`payloads_sql` selects one jsonb column),
    for set-based changes of up to a million members: the payloads never pass through Python.
    One INSERT ... SELECT for every live subscription to `event`; after commit, one dispatch task
    per WEBHOOK_DISPATCH_BATCH deliveries sends them (not one message per delivery). Returns how
    many deliveries were recorded."""
    if event not in WebhookEvent.values:
        raise api_error("webhook_event_unknown", status=400, event=event)
    from .tasks import webhook_dispatch

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH ins AS (
                INSERT INTO {WebhookDelivery._meta.db_table}
                    (created_at, updated_at, subscription_id, event_id, event, payload, status, attempts, last_error)
                SELECT now(), now(), s.id, gen_random_uuid(), %s, p.payload, %s, 0, ''
                FROM ({payloads_sql}) AS p(payload)
                CROSS JOIN (SELECT id FROM {WebhookSubscription._meta.db_table}
                            WHERE deleted_at IS NULL AND events @> ARRAY[%s]::varchar[]) s
                RETURNING id
            )
            SELECT count(*), min(id), max(id), now() FROM ins
            """,  # noqa: S608 - table names from model meta; the payload query is the caller's SQL
            [event, WebhookDelivery.Status.PENDING, *params, event],
        )
        count, first, last, created_at = cursor.fetchone()
        if count:
            for start in range(first, last + 1, WEBHOOK_DISPATCH_BATCH):
                end = min(start + WEBHOOK_DISPATCH_BATCH - 1, last)
                send_on_commit(webhook_dispatch, start, end, created_at.isoformat())
    return int(count)


def webhook_deliveries_undispatched(*, first_id: int, last_id: int, created_at: datetime) -> list[int]:
    """The deliveries of one set-based emission in [first_id, last_id] not attempted yet (other
    transactions' deliveries in the id range have another creation time and their own task)."""
    return list(
        WebhookDelivery.objects.filter(
            pk__gte=first_id,
            pk__lte=last_id,
            created_at=created_at,
            status=WebhookDelivery.Status.PENDING,
            attempts=0,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# A delivery whose task was lost — the broker unreachable when its transaction committed, a worker
# killed while holding its retry — would stay pending for ever: the sweep sends again what is this
# much overdue. A task that is merely late then makes a second attempt, which at-least-once
# delivery allows (receivers dedupe on X-CRM-Delivery).
WEBHOOK_STALLED_AFTER = timedelta(minutes=15)
WEBHOOK_SWEEP_MAX = 50_000


def webhook_deliveries_stalled(*, now: datetime | None = None) -> list[int]:
    """Pending deliveries overdue by WEBHOOK_STALLED_AFTER: never attempted since their creation,
    or past their next retry; oldest first, at most WEBHOOK_SWEEP_MAX per sweep."""
    cutoff = (now or timezone.now()) - WEBHOOK_STALLED_AFTER
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, created_at__lt=cutoff)
        .filter(Q(attempts=0) | Q(next_retry_at__lt=cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)[:WEBHOOK_SWEEP_MAX]
    )


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    retry_in: float | None  # seconds until the next attempt, None when there is none


def webhook_delivery_attempt(*, delivery_id: int) -> AttemptOutcome:
    """POST one delivery to its subscriber and record the attempt.

    The HTTP call happens outside any transaction and without row locks (a slow receiver must not
    hold a database lock). Delivery is at-least-once: a receiver dedupes on X-CRM-Delivery.
    """
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return AttemptOutcome(delivered=delivery is not None, retry_in=None)
    subscription = delivery.subscription
    attempt = delivery.attempts + 1
    status_code: int | None = None
    error = ""
    if subscription.deleted_at is not None:
        error = "订阅已删除，不再发送。"
    else:
        body = json.dumps(
            {
                "id": str(delivery.event_id),
                "event": delivery.event,
                "created_at": delivery.created_at.isoformat(),
                "data": delivery.payload,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "crm-webhooks/1",
            "X-CRM-Event": delivery.event,
            "X-CRM-Delivery": str(delivery.event_id),
            "X-CRM-Signature": signature_header(secret=subscription.secret, timestamp=timestamp, body=body),
        }
        try:
            # Checked again (DNS may have changed since subscribing), and connected to as checked.
            response = _webhook_post(subscription.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:500]}"
        except AppError as exc:
            error = exc.message
        except Exception as exc:  # any failure is this attempt's error: recorded, and retried
            error = f"{type(exc).__name__}: {exc}"[:1000]

    now = timezone.now()
    delivered = not error
    gave_up = not delivered and (attempt >= settings.API_WEBHOOK_MAX_ATTEMPTS or subscription.deleted_at is not None)
    retry_in = None if delivered or gave_up else settings.API_WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    if delivered:
        status = WebhookDelivery.Status.SUCCEEDED
    elif gave_up:
        status = WebhookDelivery.Status.FAILED
    else:
        status = WebhookDelivery.Status.PENDING
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING).update(
        attempts=attempt,
        status=status,
        last_status_code=status_code,
        last_error=error,
        next_retry_at=now + timedelta(seconds=retry_in) if retry_in is not None else None,
        delivered_at=now if delivered else None,
        updated_at=now,
    )
    return AttemptOutcome(delivered=delivered, retry_in=retry_in)
