"""A brand with a few hundred members, orders, ledger entries, tier changes, consents, data
requests, transfers and one campaign occurrence — made with factories and the real services,
with enough variety (stores, resigned staff, frozen and erased members, refunds, expiry,
re-consent) that every dashboard figure is non-trivial."""

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, Occurrence
from consent.models import Agreement
from consent.services.agreements import agreement_version_draft_save, agreement_version_publish
from consent.services.data_requests import data_request_create
from consent.services.records import consent_grant, consent_withdraw
from consent.types import ConsentEvidence
from members.models import IdentityKind, LoyaltyProgram, Member, Reward, SalesChannel, Staff, Store
from members.services.orders import order_post, order_refund
from members.services.points import points_expire_due
from members.services.rewards import reward_redeem
from members.services.tiers import tier_grant_manual, tier_remove_manual
from tests.campaigns.scenes import marketing_agreement_publish, run_now, slot_in_past_month
from tests.clock import brand_today
from tests.factories import IdentityFactory, MemberFactory, StaffFactory, StoreFactory
from tests.members.loyalty_scene import program, tiers
from wecom.models import CustomerTransfer

ADMIN = ConsentEvidence(channel="admin")
CHANNELS = [SalesChannel.STORE, SalesChannel.MINI_PROGRAM, SalesChannel.TMALL, SalesChannel.WECOM]
SOURCES = ["", "qr-spring", "qr-store", "live-0308"]


@dataclass
class Scene:
    stores: list[Store]
    staff: list[Staff]
    members: list[Member]
    occurrence: Occurrence


def build(*, seed: int = 8, members: int = 120, orders: int = 300) -> Scene:
    rng = random.Random(seed)
    now = timezone.now()
    tier_map = tiers()
    program(expiry=LoyaltyProgram.Expiry.DAYS, expiry_days=40, point_value_fen=2)
    marketing_agreement_publish()
    stores = [StoreFactory.create(code="DS1", name="静安店"), StoreFactory.create(code="DS2", name="徐汇店")]
    staff = [
        StaffFactory.create(store=stores[0], name="甲", wecom_userid="dash-a"),
        StaffFactory.create(store=stores[0], name="乙", wecom_userid="dash-b"),
        StaffFactory.create(store=stores[1], name="丙", wecom_userid="dash-c"),
        StaffFactory.create(store=stores[1], name="丁", wecom_userid="dash-d", status="resigned", resigned_at=now),
    ]
    people = []
    for n in range(members):
        member = MemberFactory.create(
            member_no=f"D{seed}{n:05d}",
            mobile=f"+86137{seed:02d}{n:06d}",
            home_store=rng.choice([*stores, None]),
            assigned_staff=rng.choice([*staff, None]),
            enrolled_at=now - dt.timedelta(days=rng.randint(0, 420), minutes=rng.randint(0, 1440)),
            enrolled_channel=rng.choice(CHANNELS),
            source=rng.choice(SOURCES),
            lifecycle_stage=rng.choice(list(Member.Lifecycle.values)),
            tier=rng.choice(list(tier_map.values())),
        )
        IdentityFactory.create(member=member, kind=IdentityKind.MOBILE, value=member.mobile)
        consent_grant(member_id=member.pk, purpose="membership", evidence=ADMIN, actor="scene")
        for purpose in ("marketing_sms", "marketing_wecom"):
            if rng.random() < 0.6:
                consent_grant(member_id=member.pk, purpose=purpose, evidence=ADMIN, actor="scene")
                if rng.random() < 0.2:
                    consent_withdraw(member_id=member.pk, purpose=purpose, evidence=ADMIN, actor="scene")
        people.append(member)
    for n in range(orders):
        if n == orders // 2:
            # Expire what the first half earned (its lots reach their 40-day expiry).
            points_expire_due(now=now + dt.timedelta(days=41))
        buyer = rng.choice([*people, None, None])
        result = order_post(
            channel=rng.choice(CHANNELS),
            order_no=f"DO{seed}-{n}",
            paid_at=now - dt.timedelta(days=rng.randint(0, 450), minutes=rng.randint(0, 1440)),
            amount_fen=rng.randint(1_000, 200_000),
            store=rng.choice([*stores, None]),
            buyer_kind=IdentityKind.MOBILE if buyer else None,
            buyer_value=buyer.mobile if buyer else None,
            staff=rng.choice([*staff[:3], None]),
            actor="scene",
        )
        if rng.random() < 0.1:
            order_refund(
                channel=result.order.channel,
                order_no=result.order.order_no,
                refund_no="R1",
                amount_fen=result.order.amount_fen // 3,
                refunded_at=now,
                actor="scene",
            )
    reward = Reward.objects.create(code="cup", name="杯子", points_cost=10, stock=1000)
    admin = get_user_model().objects.filter(is_superuser=True).first()
    assert admin is not None  # the brand's first admin
    for member in people[:40]:
        member.refresh_from_db()
        if member.points_balance >= 10:
            reward_redeem(member=member, reward=reward, reference=f"r-{member.pk}", actor="scene")
    for member in people[:12]:
        tier_grant_manual(member=member, tier=tier_map["gold"], reason="VIP", actor=admin)
    for member in people[:5]:
        tier_remove_manual(member=member, reason="到期", actor=admin)
    # A material change of the marketing terms: everyone who granted must re-consent; some do.
    marketing = Agreement.objects.get(code="marketing")
    draft = agreement_version_draft_save(
        agreement_id=marketing.pk,
        text="新营销条款",
        purposes=["marketing_sms", "marketing_wecom"],
        material_change=True,
    )
    agreement_version_publish(version_id=draft.pk, actor="scene")
    for member in people[::7]:
        consent_grant(member_id=member.pk, purpose="marketing_sms", evidence=ADMIN, actor="scene")
    for member in people[3:6]:
        data_request_create(member_id=member.pk, kind="access", channel="admin", actor="scene")
    late = data_request_create(member_id=people[6].pk, kind="deletion", channel="admin", actor="scene")
    type(late).objects.filter(pk=late.pk).update(due_at=now - dt.timedelta(days=1))
    for member, status in ((people[7], "pending"), (people[8], "waiting"), (people[9], "done")):
        CustomerTransfer.objects.create(
            member=member,
            external_userid=f"wm{member.pk}",
            handover=staff[3],
            takeover=staff[2],
            kind="resigned",
            status=status,
        )
    # Status last: frozen and erased members stay in the history above, out of the member counts.
    Member.objects.filter(pk__in=[m.pk for m in people[10:16]]).update(status=Member.Status.FROZEN)
    Member.objects.filter(pk__in=[m.pk for m in people[16:19]]).update(status=Member.Status.ERASED, erased_at=now)
    campaign = Campaign.objects.create(
        name="三月会员日",
        frequency=Campaign.Frequency.MONTHLY,
        day_of_month=8,
        time_of_day=dt.time(10),
        bonus_points=20,
        # The bonus lots expire 10 days from today, so the "expiring in 30 days" figure has them
        # whichever day of the month the scene is built (the slot is up to 39 days back).
        bonus_expiry_days=(brand_today() - slot_in_past_month().date()).days + 10,
        holdout_pct=20,
    )
    occurrence = run_now(campaign)
    return Scene(
        stores=stores, staff=staff, members=[Member.objects.get(pk=m.pk) for m in people], occurrence=occurrence
    )
