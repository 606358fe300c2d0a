"""Webhook events caused by partner-API writes, derived from what the members services returned.

The loyalty and members services do not emit webhooks themselves (yet), so the API views call
these helpers inside the request's transaction, right after the service call: the deliveries
are recorded with the change and sent only if it commits. Consent withdrawal is different: the
consent app has an `on_withdraw` hook that every channel goes through (admin, member pages,
API, erasure), so `consent_withdrawn_webhook` is registered there (see apps.py) and covers them
all.

Payloads carry the member number and the changed values only — never names or mobile numbers.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils import timezone

from consent.hooks import ConsentRevoked
from members.models import Member, Tier, TierChange
from members.services.orders import OrderItemResult

from .models import WebhookEvent, WebhookSubscription
from .services import webhook_emit, webhook_emit_many


@dataclass(frozen=True)
class LoyaltySnapshot:
    tier_id: int | None
    balance: int
    pending: int
    debt: int

    @property
    def ledger_total(self) -> int:
        return self.balance + self.pending - self.debt


def loyalty_snapshot(member: Member) -> LoyaltySnapshot:
    return LoyaltySnapshot(member.tier_id, member.points_balance, member.points_pending, member.points_debt)


def _tier_codes(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {pk for pk in ids if pk is not None}
    return dict(Tier.objects.filter(pk__in=wanted).values_list("pk", "code")) if wanted else {}


def member_enrolled_event(member: Member) -> None:
    codes = _tier_codes([member.tier_id])
    webhook_emit(
        event=WebhookEvent.MEMBER_ENROLLED,
        payload={
            "member_no": member.member_no,
            "enrolled_at": member.enrolled_at.isoformat(),
            "channel": member.enrolled_channel,
            "tier": codes.get(member.tier_id) if member.tier_id else None,
        },
    )


def member_loyalty_events(*, member: Member, before: LoyaltySnapshot, cause: str) -> None:
    """tier_changed and/or points.changed for `member` (already refreshed by the service) when its
    tier or balances differ from `before`. A replayed request that changed nothing emits nothing."""
    after = loyalty_snapshot(member)
    if after.tier_id != before.tier_id:
        codes = _tier_codes([before.tier_id, after.tier_id])
        webhook_emit(
            event=WebhookEvent.MEMBER_TIER_CHANGED,
            payload={
                "member_no": member.member_no,
                "from_tier": codes.get(before.tier_id) if before.tier_id else None,
                "to_tier": codes.get(after.tier_id) if after.tier_id else None,
                "cause": cause,
            },
        )
    if (after.balance, after.pending, after.debt) != (before.balance, before.pending, before.debt):
        webhook_emit(
            event=WebhookEvent.POINTS_CHANGED,
            payload={
                "member_no": member.member_no,
                "delta": after.ledger_total - before.ledger_total,
                "balance": after.balance,
                "pending": after.pending,
                "debt": after.debt,
                "cause": cause,
            },
        )


def orders_ingested_events(results: Sequence[OrderItemResult]) -> None:
    """Events of the orders created by one ingest call: one points.changed per member who
    earned, one tier_changed per upgrade (the ingest notes the triggering order on the change).
    Three queries whatever the batch size; none when nothing was created."""
    created = [r for r in results if r.created and r.order_id is not None]
    if not created:
        return
    delta: dict[int, int] = defaultdict(int)
    for result in created:
        if result.member_id is not None and (result.points_earned or result.points_redeemed):
            delta[result.member_id] += result.points_earned - result.points_redeemed
    changes = list(
        TierChange.objects.filter(
            note__in=[f"order:{r.order_id}" for r in created if r.member_id is not None],
            reason__in=[TierChange.Reason.UPGRADE, TierChange.Reason.ENROLMENT],
        ).values_list("member_id", "from_tier_id", "to_tier_id")
    )
    member_ids = set(delta) | {member_id for member_id, _, _ in changes}
    if not member_ids:
        return
    members = {
        row[0]: row[1:]
        for row in Member.objects.filter(pk__in=member_ids).values_list(
            "pk", "member_no", "points_balance", "points_pending", "points_debt"
        )
    }
    codes = _tier_codes([t for _, f, to in changes for t in (f, to)])
    webhook_emit_many(
        event=WebhookEvent.MEMBER_TIER_CHANGED,
        payloads=[
            {
                "member_no": members[member_id][0],
                "from_tier": codes.get(from_id) if from_id else None,
                "to_tier": codes.get(to_id) if to_id else None,
                "cause": "order",
            }
            for member_id, from_id, to_id in changes
        ],
    )
    webhook_emit_many(
        event=WebhookEvent.POINTS_CHANGED,
        payloads=[
            {
                "member_no": members[member_id][0],
                "delta": points,
                "balance": members[member_id][1],
                "pending": members[member_id][2],
                "debt": members[member_id][3],
                "cause": "order",
            }
            for member_id, points in sorted(delta.items())
        ],
    )


def consent_withdrawn_webhook(event: ConsentRevoked) -> None:
    """`on_withdraw` handler: consent.withdrawn for a member's own withdrawal (any channel) and
    for erasure. Not for re-consent after a new agreement version: that is the brand's act, not
    the member's, and can cover every member at once (partners read it from GET .../consents)."""
    if event.reason not in {"withdrawn", "erased"}:
        return
    if not WebhookSubscription.objects.filter(
        deleted_at__isnull=True, events__contains=[WebhookEvent.CONSENT_WITHDRAWN]
    ).exists():
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
