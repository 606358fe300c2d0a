"""What the member centre (pages and mini-program API) shows a member: the card, points with what
expires when, and history in words. Reads only; a handful of indexed queries per page."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Sum
from django.utils import timezone

from members.models import Member, Order, PointsEntry, PointsLot, Tier
from members.services.tiers import tier_progress
from members.tier_words import tier_needed_text

from .presentation import local_date_text, local_text, yuan

EXPIRING_GROUPS = 3
HISTORY_LIMIT = 30


@dataclass(frozen=True)
class Expiring:
    points: int
    expires_at: dt.datetime
    text: str  # "120 积分将于 2026年12月31日 过期"


@dataclass(frozen=True)
class Card:
    member: Member
    tier_name: str
    next_tier_name: str
    needed: int  # fen or points still missing to the next tier; 0 at the top
    needed_text: str  # "再消费 ¥1,200.00 升级为金卡"
    progress_pct: int
    tier_valid_until: str
    balance: int
    pending: int
    expiring: list[Expiring]


def _needed_text(next_tier: Tier | None, needed: int) -> str:
    if next_tier is None:
        return "您已是最高等级"
    return tier_needed_text(next_tier, needed)


def member_card(*, member: Member) -> Card:
    progress = tier_progress(member=member)
    pct = 100
    if progress.next is not None and progress.next.threshold > 0:
        pct = min(100, int(progress.qualifying * 100 // progress.next.threshold))
    now = timezone.now()
    lots = (
        PointsLot.objects.filter(member=member, remaining__gt=0, expires_at__isnull=False, expires_at__gt=now)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")[:EXPIRING_GROUPS]
    )
    expiring = [
        Expiring(
            points=row["points"],
            expires_at=row["expires_at"],
            text=f"{row['points']:,} 积分将于 {local_date_text(row['expires_at'])} 过期",
        )
        for row in lots
        if row["expires_at"] is not None
    ]
    return Card(
        member=member,
        tier_name=progress.current.name if progress.current else "会员",
        next_tier_name=progress.next.name if progress.next else "",
        needed=progress.needed,
        needed_text=_needed_text(progress.next, progress.needed),
        progress_pct=pct,
        tier_valid_until=local_date_text(progress.expires_at) if progress.expires_at else "长期有效",
        balance=member.points_balance,
        pending=member.points_pending,
        expiring=expiring,
    )


@dataclass(frozen=True)
class HistoryItem:
    at: dt.datetime
    when: str
    text: str
    points: int | None


_ENTRY_WORDS: dict[str, str] = {
    PointsEntry.Kind.EARN: "消费获得",
    PointsEntry.Kind.REDEEM: "兑换使用",
    PointsEntry.Kind.EXPIRE: "积分过期",
    PointsEntry.Kind.REVERSE: "退款扣回",
    PointsEntry.Kind.ADJUST: "积分调整",
    PointsEntry.Kind.MERGE: "账户合并",
    PointsEntry.Kind.BONUS: "活动赠送",
}


def _points_words(points: int) -> str:
    return f"+{points:,} 积分" if points > 0 else f"{points:,} 积分"


def member_history(*, member: Member, limit: int = HISTORY_LIMIT) -> list[HistoryItem]:
    """Orders and points changes, newest first, each as a sentence."""
    items: list[HistoryItem] = []
    for order in Order.objects.filter(member=member).select_related("store").order_by("-paid_at", "-id")[:limit]:
        where = order.store.name if order.store else order.get_channel_display()
        text = f"在{where}消费 {yuan(order.amount_fen)}"
        if order.refunded_fen:
            text += f"（已退款 {yuan(order.refunded_fen)}）"
        items.append(HistoryItem(order.paid_at, local_text(order.paid_at), text, None))
    for entry in PointsEntry.objects.filter(member=member).order_by("-created_at", "-id")[:limit]:
        text = f"{_ENTRY_WORDS.get(entry.kind, entry.get_kind_display())} {_points_words(entry.points)}"
        if entry.reason and entry.kind in (PointsEntry.Kind.ADJUST, PointsEntry.Kind.BONUS, PointsEntry.Kind.REDEEM):
            text += f"（{entry.reason}）"
        items.append(HistoryItem(entry.created_at, local_text(entry.created_at), text, entry.points))
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]
