"""Referral (邀请有礼): a member's invite link, the invitee bound at enrolment, the qualifying
action, both sides' rewards with caps and a budget, and reversal on refund.

ONE LEVEL ONLY, in the engine and not just by default (China's 禁止传销条例 art. 7: no pay per head
recruited indirectly, no pay on a downline's sales): a Referral row knows a referrer and an
invitee, nothing here ever reads the referrer's own referral, and the reward follows the invitee's
own qualifying action (enrolment, first order, or first order past the return window), never the
act of sharing.

Flow and states (the referrer sees each, with the reason in words):
  enrolment with a token ─ referral_bind (in the enrolment transaction) ─▶ joined, or refused
  (self-referral / collusion / not a new person / window passed / no campaign)
  joined ─ the invitee's first qualifying order (members.hooks.OrdersPosted, in the order's
  transaction: one indexed read and a conditional UPDATE, nothing else) ─▶ qualified (rewards
  granted after commit by a task; the hourly job picks up any the broker lost) or pending (held
  until the return window closes, then granted by the hourly job)
  qualified ─ referral_reward ─▶ rewarded (both sides, or only the invitee when the referrer's cap
  is reached — said in the reason), refused (budget spent)
  pending/rewarded ─ the qualifying order refunded inside the hold (members.hooks.OrderRefunded) ─▶
  reversed (what was granted is taken back through the same ledgers)

LOCK ORDER: the referral row (FOR UPDATE) first, then members' step 1 for both members in
ascending id order (member_lock), then the campaign row (budget, conditional UPDATE), then the
referrer's quota rows (conditional upserts), then the ledgers under members' own order. The order
hook takes no member lock of its own (the ingest holds the buyer's) and grants nothing, so a
referral can never fail or slow an order.
"""

# ruff: noqa: S608  (tables from model meta; values are parameters)

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.celery import send_on_commit
from crm.errors import AppError
from crm.tenancy.zones import brand_date
from engagement import error_codes
from engagement.models import (
    GrowthEntry,
    Referral,
    ReferralCampaign,
    ReferralLink,
    ReferralQuota,
    RewardKind,
)
from engagement.rewards import Granted, reward_grant_locked
from engagement.tasks import referral_reward_task
from members.hooks import OrderRefunded, OrdersPosted
from members.models import Identity, IdentityKind, Member, Order
from members.services.points import member_lock, points_bonus_reverse
from members.services.tiers import tier_lift_locked

from .growth import growth_activity_reverse_locked

TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105  (no 0/O/1/l/I; not a secret)
TOKEN_LENGTH = 10  # ≈ 58 bits; a mini-program scene holds 32 characters
# The identifiers compared between referrer and invitee (self-referral / collusion).
PERSON_KINDS = (IdentityKind.MOBILE, IdentityKind.WECHAT_UNIONID, IdentityKind.WECHAT_OPENID)


def _token_new() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


# --- campaign and link --------------------------------------------------------------------------


def referral_campaign_current(*, now: dt.datetime | None = None) -> ReferralCampaign | None:
    """The active campaign whose window holds `now` (at most one is active)."""
    now = now or timezone.now()
    return (
        ReferralCampaign.objects.filter(active=True)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now), Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .first()
    )


def referral_link_get(*, member: Member, device: str = "", ip: str = "") -> ReferralLink:
    """The member's invite link, made on first use (safe to call twice at once: the unique member
    row decides). `device`/`ip` — where the member is now — are kept for the self-referral check."""
    if member.merged_into_id is not None or member.status != Member.Status.ACTIVE:
        raise AppError(error_codes.MEMBER_NOT_ELIGIBLE, "该会员已冻结、删除或合并，不能邀请好友。", status=409)
    device, ip_value = (device or "")[:64], (ip or None)
    link = ReferralLink.objects.filter(member_id=member.pk).first()
    attempts = 0
    while link is None and attempts < 3:  # a token collision (58 bits) is retried, not reported
        attempts += 1
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {ReferralLink._meta.db_table} (member_id, token, device, ip, created_at)
                    VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                [member.pk, _token_new(), device, ip_value, timezone.now()],
            )
        link = ReferralLink.objects.filter(member_id=member.pk).first()
    if link is None:
        raise AppError(error_codes.REFERRAL_REFUSED, "邀请链接生成失败，请重试。", status=503)
    if (device and link.device != device) or (ip_value and link.ip != ip_value):
        ReferralLink.objects.filter(pk=link.pk).update(device=device or link.device, ip=ip_value or link.ip)
        link.device, link.ip = device or link.device, ip_value or link.ip
    return link


def referral_link_read(token: str) -> ReferralLink | None:
    token = (token or "").strip()
    if not token or len(token) > 32:
        return None
    return ReferralLink.objects.select_related("member").filter(token=token).first()


def referral_link_opened(*, link: ReferralLink) -> None:
    """A browser opened the link first (first touch): counted, so the referrer sees invitations
    opened by people who have not joined yet. One UPDATE, no lock."""
    ReferralLink.objects.filter(pk=link.pk).update(opened=F("opened") + 1)


# --- binding at enrolment -----------------------------------------------------------------------


def _identities(member_id: int) -> set[tuple[str, str]]:
    return set(Identity.objects.filter(member_id=member_id, kind__in=PERSON_KINDS).values_list("kind", "value"))


def _refusal(
    *,
    invitee: Member,
    referrer: Member,
    link: ReferralLink,
    device: str,
    ip: str | None,
    touched_at: dt.datetime | None,
    campaign: ReferralCampaign | None,
    now: dt.datetime,
) -> str:
    """Why this invitation earns nothing ('' when it may). Checked on every identifier held."""
    if campaign is None:
        return "邀请有礼活动未开启或已结束"
    if referrer.pk == invitee.pk:
        return "不能邀请自己"
    if referrer.merged_into_id is not None or referrer.status != Member.Status.ACTIVE:
        return "邀请人账户已冻结或注销"
    if touched_at is not None and now - touched_at > dt.timedelta(days=campaign.attribution_days):
        return f"受邀人打开邀请链接已超过 {campaign.attribution_days} 天才入会"
    mine, theirs = _identities(referrer.pk), _identities(invitee.pk)
    same = {kind for kind, value in mine & theirs}
    if same:
        words = "、".join(str(IdentityKind(kind).label) for kind in sorted(same))
        return f"受邀人与邀请人的{words}相同（不能邀请自己）"
    if device and link.device and device == link.device:
        return "受邀人与邀请人使用同一台设备（疑似本人）"
    if ip and link.ip and ip == link.ip:
        return "受邀人与邀请人在同一网络下入会（疑似本人）"
    if device and Referral.objects.filter(device=device).exclude(invitee_id=invitee.pk).exists():
        return "该设备已被其他受邀人使用过（疑似重复注册）"
    buyer = Q()
    for kind, value in theirs:
        buyer |= Q(buyer_kind=kind, buyer_value=value)
    prior = Order.objects.filter(paid_at__lt=invitee.enrolled_at).filter(Q(member_id=invitee.pk) | buyer)
    if prior.exists():
        return "受邀人入会前已在本品牌消费过，不是新顾客"
    return ""


def referral_bind(
    *,
    invitee: Member,
    token: str,
    device: str = "",
    ip: str = "",
    touched_at: dt.datetime | None = None,
    channel: str = Referral.Channel.LINK,
    staff_id: int | None = None,
    now: dt.datetime | None = None,
) -> Referral | None:
    """Bind a just-enrolled member to the referrer whose link (token) brought them — call it in the
    enrolment's transaction (the member centre's join does; staff recording 推荐人 in store use
    `referral_record_in_store`). An unknown token binds nothing and never fails the enrolment.
    First touch wins: an invitee is bound once (unique), a second call returns the first row.
    A refused invitation is stored too, with its reason, so the referrer can see why."""
    link = referral_link_read(token)
    if link is None:
        return None
    now = now or timezone.now()
    existing = Referral.objects.filter(invitee_id=invitee.pk).first()
    if existing is not None:
        return existing
    campaign = referral_campaign_current(now=now)
    device, ip_value = (device or "")[:64], (ip or None)
    reason = _refusal(
        invitee=invitee,
        referrer=link.member,
        link=link,
        device=device,
        ip=ip_value,
        touched_at=touched_at,
        campaign=campaign,
        now=now,
    )
    if link.member_id == invitee.pk:
        return None  # nothing to show anyone: one cannot be one's own invitee
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                campaign=campaign,
                referrer_id=link.member_id,
                invitee=invitee,
                channel=channel,
                status=Referral.Status.REFUSED if reason else Referral.Status.JOINED,
                reason=reason,
                device=device,
                ip=ip_value,
                staff_id=staff_id,
                joined_at=now,
            )
    except IntegrityError:
        return Referral.objects.get(invitee_id=invitee.pk)  # a concurrent bind won (first touch)
    if not reason and campaign is not None and campaign.qualifying == ReferralCampaign.Qualifying.ENROLMENT:
        _qualify(referral_ids=[referral.pk], order_by_invitee={}, campaign=campaign, now=now)
        referral.refresh_from_db()
    return referral


def referrer_find(query: str) -> Member | None:
    """The referrer a customer names at the counter: by member number or by mobile (exact, after
    merges). None when nobody matches; a malformed mobile is an AppError with the reason."""
    from members.selectors import MEMBER_NO, member_lookup

    query = (query or "").strip()
    digits = query.replace(" ", "").replace("-", "")
    if digits.lstrip("+").isdigit() and (len(digits) == 11 or digits.startswith("+")):
        return member_lookup(kind=IdentityKind.MOBILE, value=digits)
    return member_lookup(kind=MEMBER_NO, value=query) if query else None


def referral_record_in_store(*, invitee: Member, referrer_member_no: str, staff_id: int | None) -> Referral:
    """Staff record 推荐人 when enrolling a customer in store (the referrer tells their member
    number or mobile: `referrer_find`). The same binding as a link — a new person only, the
    self-referral and collusion checks on every identifier held, the refusal's reason stored —
    and only within the attribution window after enrolment."""
    referrer = Member.objects.filter(member_no=(referrer_member_no or "").strip().upper()).first()
    if referrer is None:
        raise AppError(error_codes.REFERRAL_REFUSED, "找不到推荐人的会员号。", fields={"referrer": ["会员号不存在。"]})
    link = referral_link_get(member=referrer)
    campaign = referral_campaign_current()
    window = dt.timedelta(days=campaign.attribution_days if campaign else 1)
    if timezone.now() - invitee.enrolled_at > window:
        raise AppError(error_codes.REFERRAL_REFUSED, "只能在会员入会后不久登记推荐人。")
    with transaction.atomic():
        referral = referral_bind(invitee=invitee, token=link.token, channel=Referral.Channel.STORE, staff_id=staff_id)
    if referral is None:
        raise AppError(error_codes.REFERRAL_REFUSED, "不能登记自己为推荐人。")
    return referral


# --- qualification (in the order's transaction: cheap, grants nothing) --------------------------


def _qualify(
    *,
    referral_ids: Sequence[int],
    order_by_invitee: dict[int, tuple[int, dt.datetime]],
    campaign: ReferralCampaign,
    now: dt.datetime,
) -> None:
    """joined → qualified (rewarded after commit) or pending (held): a conditional UPDATE per
    referral, so two racing qualifications move it once."""
    held = campaign.qualifying == ReferralCampaign.Qualifying.FIRST_ORDER_HELD
    for referral_id in referral_ids:
        invitee_id = Referral.objects.filter(pk=referral_id).values_list("invitee_id", flat=True).first()
        order_id, paid_at = order_by_invitee.get(invitee_id or 0, (None, now))
        hold_until = paid_at + dt.timedelta(days=campaign.hold_days) if order_id else None
        moved = Referral.objects.filter(pk=referral_id, status=Referral.Status.JOINED).update(
            status=Referral.Status.PENDING if held else Referral.Status.QUALIFIED,
            reason=(f"首单已完成，退货期（{campaign.hold_days} 天）结束后发放" if held else "已达成，奖励发放中"),
            order_id=order_id,
            qualified_at=now,
            hold_until=hold_until,
        )
        if moved and not held:
            send_on_commit(referral_reward_task, referral_id)


def referral_first_orders(event: OrdersPosted) -> dict[int, tuple[int, dt.datetime, int]]:
    """Each buyer's first order of an ingest: member id -> (order id, paid at, amount in fen)."""
    firsts: dict[int, tuple[int, dt.datetime, int]] = {}
    for order in event.orders:
        if order.member_id not in firsts or order.paid_at < firsts[order.member_id][1]:
            firsts[order.member_id] = (order.order_id, order.paid_at, order.amount_fen)
    return firsts


# The buyers who are invitees waiting for their first order (the unique invitee index answers
# it); engagement/services/orders.py selects them in the statement that spends growth.
REFERRALS_WAITING_SQL = f"SELECT id, invitee_id, campaign_id FROM {Referral._meta.db_table} " + (
    "WHERE invitee_id = ANY(%s::bigint[]) AND status = 'joined'"
)


def referral_on_first_orders(
    *, firsts: dict[int, tuple[int, dt.datetime, int]], waiting: Sequence[tuple[int, int, int]]
) -> None:
    """In the order's transaction: the invitee's first qualifying order qualifies their referral
    (`waiting`: rows of REFERRALS_WAITING_SQL for the buyers of `firsts`)."""
    if not waiting:
        return
    now = timezone.now()
    campaigns = {c.pk: c for c in ReferralCampaign.objects.filter(pk__in={w[2] for w in waiting})}
    for referral_id, invitee_id, campaign_id in waiting:
        campaign = campaigns.get(campaign_id)
        if campaign is None or campaign.qualifying == ReferralCampaign.Qualifying.ENROLMENT:
            continue
        order_id, paid_at, amount = firsts[invitee_id]
        if amount < max(campaign.min_order_fen, 1):
            continue  # not a qualifying order; the next one may be
        _qualify(
            referral_ids=[referral_id], order_by_invitee={invitee_id: (order_id, paid_at)}, campaign=campaign, now=now
        )


# --- rewards ------------------------------------------------------------------------------------


def _quota_take(*, cursor: Any, campaign: ReferralCampaign, referrer_id: int, day: dt.date) -> None:
    """Count one reward against the referrer's caps; _CapReached says which one refused (the
    caller's savepoint then un-counts the periods already counted)."""
    periods = [
        (f"d{day:%Y-%m-%d}", campaign.cap_per_day, f"邀请人今日获得奖励已达上限（每天 {campaign.cap_per_day} 人）"),
        (f"m{day:%Y-%m}", campaign.cap_per_month, f"邀请人本月获得奖励已达上限（每月 {campaign.cap_per_month} 人）"),
        ("all", campaign.cap_lifetime, f"邀请人累计获得奖励已达上限（{campaign.cap_lifetime} 人）"),
    ]
    for period, cap, words in periods:
        if not cap:
            continue
        cursor.execute(
            f"""INSERT INTO {ReferralQuota._meta.db_table} AS q (campaign_id, referrer_id, period, used)
                VALUES (%s, %s, %s, 1)
                ON CONFLICT (referrer_id, campaign_id, period) DO UPDATE SET used = q.used + 1
                WHERE q.used < %s""",
            [campaign.pk, referrer_id, period, cap],
        )
        if cursor.rowcount == 0:
            raise _CapReached(words)


class _CapReached(Exception):
    pass


def _grant_side(*, member: Member, kind: str, amount: int, coupon: str, reference: str, reason: str) -> list[Granted]:
    if kind != RewardKind.COUPON and amount <= 0:
        return []
    if kind == RewardKind.COUPON and not coupon:
        return []
    granted = reward_grant_locked(
        member=member,
        kind=kind,
        amount=amount,
        coupon_template=coupon,
        reference=reference,
        reason=reason,
        growth_kind=GrowthEntry.Kind.REFERRAL,
    )
    if kind == RewardKind.GROWTH and granted.amount:
        tier_lift_locked(member=member, actor="engagement", note=reference)
    return [granted]


def referral_reward(*, referral_id: int, now: dt.datetime | None = None) -> Referral:
    """Grant both sides' rewards of a qualified (or held and now due) referral, once: the status
    moves only from qualified/pending, under the referral row's lock. The budget spent refuses
    both; the referrer's cap refuses the referrer's side only (the reason says which)."""
    now = now or timezone.now()
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        if referral.status == Referral.Status.PENDING and (referral.hold_until or now) > now:
            return referral  # still inside the return window
        if referral.status not in (Referral.Status.QUALIFIED, Referral.Status.PENDING):
            return referral  # rewarded, reversed or refused already: a retry changes nothing
        if referral.campaign_id is None:  # never qualifies without one; said for the type checker
            return referral
        campaign = ReferralCampaign.objects.get(pk=referral.campaign_id)
        # Lock step 1 for both members, ascending id.
        locked = {m_id: member_lock(member_id=m_id) for m_id in sorted({referral.referrer_id, referral.invitee_id})}
        referrer, invitee = locked[referral.referrer_id], locked[referral.invitee_id]
        if invitee.status != Member.Status.ACTIVE or invitee.merged_into_id is not None:
            return _close(referral, Referral.Status.REFUSED, "受邀人账户已冻结或注销", now)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {ReferralCampaign._meta.db_table} SET budget_used = budget_used + 1
                    WHERE id = %s AND (budget = 0 OR budget_used < budget)""",
                [campaign.pk],
            )
            if cursor.rowcount == 0:
                return _close(referral, Referral.Status.REFUSED, f"活动预算（{campaign.budget} 人次）已用完", now)
            note = ""
            try:
                with transaction.atomic():
                    _quota_take(cursor=cursor, campaign=campaign, referrer_id=referrer.pk, day=brand_date(now))
            except _CapReached as cap:
                note = str(cap)
        invitee_label = f"受邀入会奖励（{campaign.name}）"
        referral.invitee_rewards = [
            g.as_json()
            for g in _grant_side(
                member=invitee,
                kind=campaign.invitee_reward_kind,
                amount=campaign.invitee_reward_amount,
                coupon=campaign.invitee_coupon_template,
                reference=f"referral:{referral.pk}:invitee",
                reason=invitee_label,
            )
        ]
        if not note and referrer.status == Member.Status.ACTIVE and referrer.merged_into_id is None:
            referral.referrer_rewards = [
                g.as_json()
                for g in _grant_side(
                    member=referrer,
                    kind=campaign.referrer_reward_kind,
                    amount=campaign.referrer_reward_amount,
                    coupon=campaign.referrer_coupon_template,
                    reference=f"referral:{referral.pk}:referrer",
                    reason=f"邀请好友奖励（{campaign.name}）",
                )
            ]
        elif not note:
            note = "邀请人账户已冻结或注销"
        if note:
            return _close(referral, Referral.Status.REFUSED, f"邀请人未获奖励：{note}", now, rewarded=True)
        words = "、".join(r["label"] for r in referral.referrer_rewards) or "本活动邀请人无奖励"
        return _close(referral, Referral.Status.REWARDED, words, now, rewarded=True)


def _close(referral: Referral, status: str, reason: str, now: dt.datetime, rewarded: bool = False) -> Referral:
    referral.status, referral.reason = status, reason[:255]
    if rewarded:
        referral.rewarded_at = now
    referral.save(update_fields=["status", "reason", "rewarded_at", "referrer_rewards", "invitee_rewards"])
    return referral


# --- reversal on refund -------------------------------------------------------------------------


def _reverse_side(*, member_id: int, granted: list[dict[str, Any]], reference: str, reason: str) -> None:
    from engagement.coupon_issuer import engagement_coupon_void

    for item in granted:
        member = member_lock(member_id=member_id)
        if item["kind"] == RewardKind.POINTS:
            points_bonus_reverse(member=member, reference=reference, reason=reason, actor="engagement")
        elif item["kind"] == RewardKind.GROWTH:
            growth_activity_reverse_locked(
                member=member, kind=GrowthEntry.Kind.REFERRAL, reference=reference, reason=reason
            )
        elif item["kind"] == RewardKind.COUPON:
            engagement_coupon_void(member_id=member_id, reference=reference, reason=reason)


def referral_on_order_refunded(event: OrderRefunded) -> None:
    """members.hooks handler (in the refund's transaction, order and buyer locked): a refund of
    the qualifying order inside the hold that leaves it below the qualifying amount reverses the
    referral — a held one is never paid, a rewarded one is taken back on both sides."""
    if event.member_id is None:
        return
    found = (
        Referral.objects.filter(
            order_id=event.order_id,
            status__in=[
                Referral.Status.PENDING,
                Referral.Status.QUALIFIED,
                Referral.Status.REWARDED,
                Referral.Status.REFUSED,
            ],
        )
        .values_list("id", flat=True)
        .first()
    )
    if found is None:
        return
    referral_reverse(referral_id=found, event=event)


def referral_reverse(*, referral_id: int, event: OrderRefunded, now: dt.datetime | None = None) -> Referral:
    now = now or timezone.now()
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        if referral.campaign_id is None:
            return referral
        campaign = ReferralCampaign.objects.get(pk=referral.campaign_id)
        kept = event.order_amount_fen - event.refunded_fen
        if kept >= max(campaign.min_order_fen, 1):
            return referral  # a partial refund that still qualifies
        if referral.hold_until is not None and now > referral.hold_until:
            return referral  # past the return window: the reward stands
        if referral.status in (Referral.Status.PENDING, Referral.Status.QUALIFIED):
            referral.status, referral.reason = Referral.Status.REVERSED, f"首单已退款（{event.refund_no}），奖励不发放"
            referral.reversed_at = now
            referral.save(update_fields=["status", "reason", "reversed_at"])
            return referral
        if not (referral.invitee_rewards or referral.referrer_rewards):
            return referral
        for m_id in sorted({referral.referrer_id, referral.invitee_id}):
            member_lock(member_id=m_id)
        reason = f"首单退款，撤回邀请奖励（{event.refund_no}）"
        _reverse_side(
            member_id=referral.invitee_id,
            granted=referral.invitee_rewards,
            reference=f"referral:{referral.pk}:invitee",
            reason=reason,
        )
        _reverse_side(
            member_id=referral.referrer_id,
            granted=referral.referrer_rewards,
            reference=f"referral:{referral.pk}:referrer",
            reason=reason,
        )
        if referral.referrer_rewards:
            day = brand_date(referral.rewarded_at or now)
            # Give the referrer's cap and the budget back: the reward no longer stands.
            ReferralQuota.objects.filter(
                referrer_id=referral.referrer_id,
                campaign_id=campaign.pk,
                period__in=[f"d{day:%Y-%m-%d}", f"m{day:%Y-%m}", "all"],
                used__gt=0,
            ).update(used=F("used") - 1)
        ReferralCampaign.objects.filter(pk=campaign.pk, budget_used__gt=0).update(budget_used=F("budget_used") - 1)
        referral.status, referral.reason = Referral.Status.REVERSED, f"首单已退款（{event.refund_no}），奖励已撤回"
        referral.reversed_at = now
        referral.save(update_fields=["status", "reason", "reversed_at"])
        return referral


def referral_release_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The hourly job: grant held referrals whose return window has closed, and qualified ones
    whose task the broker lost. Each in its own transaction; safe to run twice."""
    now = now or timezone.now()
    ids = list(
        Referral.objects.filter(
            Q(status=Referral.Status.PENDING, hold_until__lte=now)
            | Q(status=Referral.Status.QUALIFIED, qualified_at__lte=now - dt.timedelta(minutes=5))
        )
        .order_by("id")
        .values_list("id", flat=True)[:5000]
    )
    rewarded = 0
    for referral_id in ids:
        if referral_reward(referral_id=referral_id, now=now).status == Referral.Status.REWARDED:
            rewarded += 1
    return {"due": len(ids), "rewarded": rewarded}
