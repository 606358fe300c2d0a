"""Webhook events of changes made anywhere, not only through the partner API.

The members services tell their hooks (members/hooks.py) about every enrolment and every change
of a member's tier or points, whatever the channel — API, brand admin, nightly jobs, merges,
campaign awards, refunds — inside the change's transaction. The handlers here, registered in
apps.py, record the deliveries in that transaction; they are sent only if it commits. Consent
withdrawal works the same way through the consent app's `on_withdraw` hook.

Every handler first asks, in one query, whether any live subscription wants the event, and does
nothing more when none does: most brands have no partner listening, and a nightly job over a
million members must not pay for webhooks nobody reads. Within a partner API request the answer
is remembered by the process under the brand's generation that the request's key check read
(crm/api/remembered_keys.py), so a partner's order asks the database nothing about webhooks
unless it has something to deliver; every subscription change renews the generation.

Payloads carry the member number and the changed values only — never names or mobile numbers.
"""

import time
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from consent.hooks import ConsentRevoked
from coupons.hooks import CouponEvent, CouponRedeemed, CouponsIssued
from crm.api import remembered_keys
from crm.api.remembered_keys import api_generation_renew, request_generation
from crm.db import connection
from crm.memos import process_memo
from members.hooks import LoyaltyChanged, MemberEnrolled
from members.models import Member, Tier

from .models import WebhookEvent, WebhookSubscription
from .services import webhook_emit, webhook_emit_many, webhook_emit_select

_SUBSCRIPTION = WebhookSubscription._meta.db_table
_MEMBER = Member._meta.db_table
_TIER = Tier._meta.db_table


# (database, schema) -> (monotonic expiry, generation token it was read under, events wanted)
_wanted_remembered: dict[tuple[str, str], tuple[float, bytes | None, frozenset[str]]] = process_memo(
    "webhook events wanted per brand"
)


def webhook_events_subscribed(events: Sequence[str]) -> AbstractSet[str]:
    """Which of `events` a live subscription of the current brand wants: one query, or none in an
    API request after the first of the process under the brand's current generation."""
    if not events:
        return set()
    in_request, generation = request_generation()
    brand = (connection.settings_dict["NAME"], connection.schema_name)
    remembered = _wanted_remembered.get(brand) if in_request else None
    if remembered is not None and remembered[0] > time.monotonic() and remembered[1] == generation:
        wanted = remembered[2]
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT unnest(events) FROM {_SUBSCRIPTION} WHERE deleted_at IS NULL"  # noqa: S608
            )
            wanted = frozenset(event for (event,) in cursor.fetchall())
        if in_request:  # read after the request read its generation: safe to remember under it
            _wanted_remembered[brand] = (time.monotonic() + remembered_keys.REMEMBER_SECONDS, generation, wanted)
    return wanted.intersection(events)


def webhook_subscriptions_changed(**_: Any) -> None:
    """Subscriptions changed in the current brand: forget what this process remembers now, and
    renew the brand's generation after the commit so the other processes do too."""
    _wanted_remembered.clear()
    api_generation_renew()


post_save.connect(webhook_subscriptions_changed, sender=WebhookSubscription, dispatch_uid="webhook_subs_saved")
post_delete.connect(webhook_subscriptions_changed, sender=WebhookSubscription, dispatch_uid="webhook_subs_deleted")


def _tier_codes(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {pk for pk in ids if pk is not None}
    return dict(Tier.objects.filter(pk__in=wanted).values_list("pk", "code")) if wanted else {}


def member_enrolled_webhook(event: MemberEnrolled) -> None:
    """`on_member_enrolled` handler: member.enrolled, from every enrolment channel."""
    if not webhook_events_subscribed([WebhookEvent.MEMBER_ENROLLED]):
        return
    member = Member.objects.select_related("tier").get(pk=event.member_id)
    webhook_emit(
        event=WebhookEvent.MEMBER_ENROLLED,
        payload={
            "member_no": member.member_no,
            "enrolled_at": member.enrolled_at.isoformat(),
            "channel": member.enrolled_channel,
            "tier": member.tier.code if member.tier else None,
        },
    )


def loyalty_changed_webhook_writes() -> bool:
    """Whether loyalty_changed_webhook, told of a points or tier change now, would record a
    delivery: a live subscription wants either event (remembered within an API request)."""
    return bool(webhook_events_subscribed([WebhookEvent.MEMBER_TIER_CHANGED, WebhookEvent.POINTS_CHANGED]))


def loyalty_changed_webhook(event: LoyaltyChanged) -> None:
    """`on_loyalty_changed` handler: member.tier_changed and points.changed, one delivery per
    subscription for each member whose tier / balances changed, with the change's cause."""
    involved = []
    if event.tier_rows or any(c.tier_changed for c in event.changes):
        involved.append(WebhookEvent.MEMBER_TIER_CHANGED)
    if event.points_rows or any(c.points_changed for c in event.changes):
        involved.append(WebhookEvent.POINTS_CHANGED)
    subscribed = webhook_events_subscribed(involved)
    if not subscribed:
        return
    if event.changes:
        _row_level(event, subscribed)
    for name, rows in (
        (WebhookEvent.MEMBER_TIER_CHANGED, event.tier_rows),
        (WebhookEvent.POINTS_CHANGED, event.points_rows),
    ):
        if name in subscribed:
            for sql, params in rows:
                webhook_emit_select(
                    event=name, payloads_sql=_SET_PAYLOADS[name].format(rows=sql), params=[event.cause, *params]
                )


# The payload (today's shape, as the row-level path builds it) of each set-based row, by event.
_SET_PAYLOADS = {
    WebhookEvent.MEMBER_TIER_CHANGED: f"""
        SELECT jsonb_build_object('member_no', m.member_no, 'from_tier', ft.code, 'to_tier', tt.code,
                                  'cause', %s::text)
        FROM ({{rows}}) AS r(member_id, from_tier_id, to_tier_id)
        JOIN {_MEMBER} m ON m.id = r.member_id
        LEFT JOIN {_TIER} ft ON ft.id = r.from_tier_id
        LEFT JOIN {_TIER} tt ON tt.id = r.to_tier_id""",  # noqa: S608
    WebhookEvent.POINTS_CHANGED: f"""
        SELECT jsonb_build_object('member_no', m.member_no, 'delta', r.delta, 'balance', r.balance,
                                  'pending', r.pending, 'debt', r.debt, 'cause', %s::text)
        FROM ({{rows}}) AS r(member_id, delta, balance, pending, debt)
        JOIN {_MEMBER} m ON m.id = r.member_id""",  # noqa: S608
}


def _row_level(event: LoyaltyChanged, subscribed: AbstractSet[str]) -> None:
    tier_wanted = WebhookEvent.MEMBER_TIER_CHANGED in subscribed
    points_wanted = WebhookEvent.POINTS_CHANGED in subscribed
    tier_changes = [c for c in event.changes if tier_wanted and c.tier_changed]
    points_changes = [c for c in event.changes if points_wanted and c.points_changed]
    numbers = dict(
        Member.objects.filter(pk__in={c.member_id for c in [*tier_changes, *points_changes]}).values_list(
            "pk", "member_no"
        )
    )
    if tier_changes:
        codes = _tier_codes([t for c in tier_changes for t in (c.tier_before, c.tier_after)])
        webhook_emit_many(
            event=WebhookEvent.MEMBER_TIER_CHANGED,
            payloads=[
                {
                    "member_no": numbers[c.member_id],
                    "from_tier": codes.get(c.tier_before) if c.tier_before else None,
                    "to_tier": codes.get(c.tier_after) if c.tier_after else None,
                    "cause": event.cause,
                }
                for c in tier_changes
            ],
        )
    if points_changes:
        webhook_emit_many(
            event=WebhookEvent.POINTS_CHANGED,
            payloads=[
                {
                    "member_no": numbers[c.member_id],
                    "delta": c.delta,
                    "balance": c.points_after[0],
                    "pending": c.points_after[1],
                    "debt": c.points_after[2],
                    "cause": event.cause,
                }
                for c in points_changes
            ],
        )


def consent_withdrawn_webhook(event: ConsentRevoked) -> None:
    """`on_withdraw` handler: consent.withdrawn for a member's own withdrawal (any channel) and
    for erasure. Not for re-consent after a new agreement version: that is the brand's act, not
    the member's, and can cover every member at once (partners read it from GET .../consents)."""
    if event.reason not in {"withdrawn", "erased"}:
        return
    if not webhook_events_subscribed([WebhookEvent.CONSENT_WITHDRAWN]):
        return
    now = timezone.now().isoformat()
    member_nos = Member.objects.filter(pk__in=event.member_ids).values_list("member_no", flat=True)
    webhook_emit_many(
        event=WebhookEvent.CONSENT_WITHDRAWN,
        payloads=[
            {"member_no": member_no, "purposes": list(event.purposes), "reason": event.reason, "at": now}
            for member_no in member_nos
        ],
    )


# --- coupons --------------------------------------------------------------------------------------

# A coupon as partners read it: member number, template, state, code (generated codes in full,
# imported ones by their last characters), validity; with the write-off for redeemed / returned.
_COUPON_PAYLOAD = """
    SELECT jsonb_build_object(
        'coupon_id', c.id, 'member_no', m.member_no, 'template_id', c.template_id, 'template', t.name,
        'state', c.state, 'code', c.code, 'source', c.source,
        'valid_from', c.valid_from, 'valid_until', c.valid_until{extra})
    FROM coupons_coupon c
    JOIN coupons_coupontemplate t ON t.id = c.template_id
    JOIN members_member m ON m.id = c.member_id
    {join} WHERE {where}
"""
_REDEMPTION_FIELDS = """,
        'redemption', jsonb_build_object('id', r.id, 'request_no', r.request_no, 'status', r.status,
            'channel', r.channel, 'order_no', r.order_no, 'order_amount_fen', r.order_amount_fen,
            'discount_fen', r.discount_fen, 'redeemed_at', r.redeemed_at)"""


def coupon_webhook(event: CouponEvent) -> None:
    """`on_coupon_event` handler: coupon.issued (set-based: one delivery per coupon and
    subscription, payloads built in SQL), coupon.redeemed and coupon.returned."""
    if isinstance(event, CouponsIssued):
        name = WebhookEvent.COUPON_ISSUED
    elif isinstance(event, CouponRedeemed):
        name = WebhookEvent.COUPON_REDEEMED
    else:
        name = WebhookEvent.COUPON_RETURNED
    if not webhook_events_subscribed([name]):
        return
    if isinstance(event, CouponsIssued):
        rows_sql, rows_params = event.rows
        sql = _COUPON_PAYLOAD.format(extra="", join="", where=f"c.id IN ({rows_sql})")
        webhook_emit_select(event=name, payloads_sql=sql, params=rows_params)
        return
    sql = _COUPON_PAYLOAD.format(
        extra=_REDEMPTION_FIELDS, join="JOIN coupons_couponredemption r ON r.coupon_id = c.id", where="r.id = %s"
    )
    webhook_emit_select(event=name, payloads_sql=sql, params=[event.redemption_id])
