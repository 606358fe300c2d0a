"""Writes of partner webhooks: subscriptions, emission (row by row, many, or set-based) and
delivery over the SSRF-safe transport. Keyword-only, each owns its transaction."""

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.api.error_codes import api_error, error_detail
from crm.api.models import Partner
from crm.api.remembered_keys import api_generation_renew
from crm.celery import send_on_commit
from crm.egress import EgressRefused, EgressResponse, egress_request, egress_url_check
from crm.errors import AppError

from .models import WebhookDelivery, WebhookEvent, WebhookSubscription
from .signing import signature_header
from .tasks import webhook_deliver, webhook_dispatch


def webhook_url_validate(url: str) -> None:
    """Refuse URLs that would make us call our own network (SSRF), unless settings allow it, and
    URLs a delivery could not use (no host, a port out of range, credentials in the URL)."""
    try:
        egress_url_check(url)
    except EgressRefused:
        raise _webhook_url_refused() from None


def _webhook_url_refused() -> AppError:
    return api_error("webhook_url_not_allowed", status=400, fields={"url": [str(_url_message())]})


def _webhook_post(url: str, *, content: bytes, headers: dict[str, str]) -> EgressResponse:
    """POST through crm.egress: the address checked again (DNS may have changed since subscribing)
    and connected to as checked, the answer capped and the attempt bounded in time."""
    try:
        return egress_request(
            "POST",
            url,
            content=content,
            headers=headers,
            max_bytes=settings.API_WEBHOOK_MAX_RESPONSE_BYTES,
            deadline_seconds=settings.API_WEBHOOK_DEADLINE_SECONDS,
            read_timeout=settings.API_WEBHOOK_TIMEOUT_SECONDS,
        )
    except EgressRefused:
        raise _webhook_url_refused() from None


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
