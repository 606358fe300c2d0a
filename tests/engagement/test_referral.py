"""Referral (邀请有礼): one level only, the reward follows the invitee's own qualifying action,
only new people, self-referral and collusion refused with the reason stored, caps per referrer
per brand day/month and a budget, reversal when the qualifying order is refunded inside the hold,
and the referrer sees every invitation's status with the reason, the invitee masked."""

import datetime as dt

from django.utils import timezone

from engagement.models import GrowthEntry, Referral, ReferralCampaign, RewardKind
from engagement.selectors import referral_invitations
from engagement.services.growth import growth_audit, growth_balance
from engagement.services.referral import (
    referral_bind,
    referral_link_get,
    referral_record_in_store,
    referral_release_due,
    referral_reward,
)
from members.models import IdentityKind, Member, PointsEntry
from members.services.orders import order_post, order_refund
from members.services.points import ledger_audit
from tests.factories import IdentityFactory, MemberFactory
from tests.members.loyalty_scene import program

from .scene import clock, rules


def campaign(**overrides: object) -> ReferralCampaign:
    values: dict[str, object] = {
        "name": "春季邀请有礼",
        "active": True,
        "qualifying": ReferralCampaign.Qualifying.FIRST_ORDER,
        "min_order_fen": 5_000,
        "hold_days": 7,
        "attribution_days": 7,
        "referrer_reward_kind": RewardKind.POINTS,
        "referrer_reward_amount": 100,
        "invitee_reward_kind": RewardKind.POINTS,
        "invitee_reward_amount": 50,
        "cap_per_day": 0,
        "cap_per_month": 0,
        "cap_lifetime": 0,
        "budget": 0,
        **overrides,
    }
    return ReferralCampaign.objects.create(**values)


def person(unionid: str, **fields: object) -> Member:
    member = MemberFactory.create(enrolled_at=timezone.now(), **fields)
    IdentityFactory.create(member=member, kind=IdentityKind.WECHAT_UNIONID, value=unionid)
    return member


def buy(no: str, amount_fen: int, unionid: str) -> None:
    order_post(
        channel="store",
        order_no=no,
        paid_at=timezone.now(),
        amount_fen=amount_fen,
        buyer_kind="wechat_unionid",
        buyer_value=unionid,
        actor="pos",
    )


def refund(no: str, refund_no: str, amount_fen: int) -> None:
    order_refund(
        channel="store",
        order_no=no,
        refund_no=refund_no,
        amount_fen=amount_fen,
        refunded_at=timezone.now(),
        actor="pos",
    )


def bonus_points(member: Member) -> int:
    return sum(
        PointsEntry.objects.filter(member_id=member.pk, reference__startswith="referral:").values_list(
            "points", flat=True
        )
    )


def invite(referrer: Member, invitee_unionid: str, **bind: object) -> tuple[Member, Referral | None]:
    link = referral_link_get(member=referrer, device="dev-referrer", ip="10.0.0.1")
    invitee = person(invitee_unionid)
    return invitee, referral_bind(invitee=invitee, token=link.token, **bind)  # type: ignore[arg-type]


def test_first_order_rewards_both_sides_once_and_the_referrer_sees_it(in_brand_a):
    program()
    rules()
    campaign()
    with clock("2027-01-31 23:50:00"):
        referrer = person("u-ref", name="王小明")
        invitee, referral = invite(referrer, "u-new", device="dev-new", ip="10.0.0.2")
        assert referral is not None and referral.status == Referral.Status.JOINED
        # Sign-up alone earns nothing; an order below the threshold neither.
        assert bonus_points(referrer) == 0
        buy("S1", 4_999, "u-new")
        referral.refresh_from_db()
        assert referral.status == Referral.Status.JOINED
        buy("S2", 12_800, "u-new")
        referral.refresh_from_db()
        assert referral.status == Referral.Status.QUALIFIED
        assert bonus_points(referrer) == 0  # granted after the order commits, not inside it
        referral_reward(referral_id=referral.pk)
        referral_reward(referral_id=referral.pk)  # a retried task grants nothing more
    referral.refresh_from_db()
    assert referral.status == Referral.Status.REWARDED
    assert bonus_points(referrer) == 100 and bonus_points(invitee) == 50
    assert PointsEntry.objects.get(member_id=referrer.pk, reference=f"referral:{referral.pk}:referrer").reason == (
        "邀请好友奖励（春季邀请有礼）"
    )
    [seen] = referral_invitations(member=referrer)
    assert seen.status_label == "已发放奖励"
    assert seen.invitee.startswith(invitee.name[0] + "*") and "****" in seen.invitee
    assert invitee.name not in seen.invitee
    assert seen.joined == "2027-01-31"  # brand day, not UTC
    assert seen.rewards == ["邀请好友奖励（春季邀请有礼）：100 积分"]
    assert ledger_audit() == []


def test_one_level_only_a_referrers_referrer_gets_nothing(in_brand_a):
    program()
    rules()
    campaign(referrer_reward_kind=RewardKind.GROWTH, referrer_reward_amount=10)
    grand = person("u-a")
    b, ab = invite(grand, "u-b", device="dev-b")
    _, bc = invite(b, "u-c", device="dev-c")
    assert ab and bc
    buy("C1", 10_000, "u-c")
    referral_reward(referral_id=bc.pk)
    bc.refresh_from_db()
    assert bc.status == Referral.Status.REWARDED
    assert growth_balance(member_id=b.pk) == 10
    assert growth_balance(member_id=grand.pk) == 0  # nothing travels up a second level
    assert PointsEntry.objects.filter(member_id=grand.pk).count() == 0
    assert GrowthEntry.objects.filter(member_id=b.pk, kind=GrowthEntry.Kind.REFERRAL).count() == 1
    assert growth_audit() == []


def test_a_refund_inside_the_hold_reverses_both_sides_and_says_so(in_brand_a):
    program()
    rules()
    campaign(referrer_reward_kind=RewardKind.GROWTH, referrer_reward_amount=20)
    with clock("2027-02-28 12:00:00"):
        referrer = person("u-ref")
        invitee, referral = invite(referrer, "u-new", device="dev-new")
        buy("R1", 10_000, "u-new")
        referral_reward(referral_id=referral.pk)
    with clock("2027-03-03 09:00:00"):
        refund("R1", "RF1", 3_000)  # a partial refund that still leaves ¥70 paid: stands
        referral.refresh_from_db()
        assert referral.status == Referral.Status.REWARDED
        refund("R1", "RF2", 7_000)
    referral.refresh_from_db()
    assert referral.status == Referral.Status.REVERSED
    assert referral.reason == "首单已退款（RF2），奖励已撤回"
    assert bonus_points(invitee) == 0  # 50 − 50
    assert growth_balance(member_id=referrer.pk) == 0
    assert [i.status_label for i in referral_invitations(member=referrer)] == ["奖励已撤回"]
    assert ledger_audit() == [] and growth_audit() == []


def test_a_refund_after_the_hold_changes_nothing(in_brand_a):
    program()
    rules()
    campaign(hold_days=7)
    with clock("2027-12-24 10:00:00"):
        referrer = person("u-ref")
        _, referral = invite(referrer, "u-new", device="dev-new")
        buy("H1", 10_000, "u-new")
        referral_reward(referral_id=referral.pk)
    with clock("2028-01-01 10:00:01"):  # hold closed at 2027-12-31 10:00 (over the year end)
        refund("H1", "RF", 10_000)
    referral.refresh_from_db()
    assert referral.status == Referral.Status.REWARDED
    assert bonus_points(referrer) == 100


def test_held_rewards_wait_for_the_return_window_and_a_refund_inside_it_pays_nothing(in_brand_a):
    program()
    rules()
    campaign(qualifying=ReferralCampaign.Qualifying.FIRST_ORDER_HELD, hold_days=7)
    with clock("2028-02-22 20:00:00"):
        referrer = person("u-ref")
        kept, kept_ref = invite(referrer, "u-kept", device="dev-1")
        gone, gone_ref = invite(referrer, "u-gone", device="dev-2")
        buy("K1", 10_000, "u-kept")
        buy("G1", 10_000, "u-gone")
    kept_ref.refresh_from_db()
    assert kept_ref.status == Referral.Status.PENDING
    assert kept_ref.reason == "首单已完成，退货期（7 天）结束后发放"
    with clock("2028-02-29 19:59:59"):  # leap day, one second before the window closes
        assert referral_release_due() == {"due": 0, "rewarded": 0}
        refund("G1", "RG", 10_000)
    with clock("2028-02-29 20:00:00"):
        assert referral_release_due() == {"due": 1, "rewarded": 1}
        assert referral_release_due() == {"due": 0, "rewarded": 0}
    kept_ref.refresh_from_db()
    gone_ref.refresh_from_db()
    assert kept_ref.status == Referral.Status.REWARDED
    assert gone_ref.status == Referral.Status.REVERSED and gone_ref.reason == "首单已退款（RG），奖励不发放"
    assert bonus_points(referrer) == 100 and bonus_points(gone) == 0 and bonus_points(kept) == 50


def test_enrolment_as_the_qualifying_action(in_brand_a):
    program()
    rules()
    campaign(qualifying=ReferralCampaign.Qualifying.ENROLMENT)
    referrer = person("u-ref")
    _, referral = invite(referrer, "u-new", device="dev-new")
    assert referral.status == Referral.Status.QUALIFIED
    referral_reward(referral_id=referral.pk)
    assert bonus_points(referrer) == 100


def test_self_referral_and_collusion_are_refused_with_the_reason_stored(in_brand_a):
    program()
    rules()
    campaign()
    referrer = person("u-ref")
    link = referral_link_get(member=referrer, device="dev-referrer", ip="10.0.0.1")
    assert referral_bind(invitee=referrer, token=link.token) is None  # one's own link binds nothing
    _, same_device = invite(referrer, "u-1", device="dev-referrer", ip="10.9.9.9")
    _, same_ip = invite(referrer, "u-2", device="dev-2", ip="10.0.0.1")
    _, first = invite(referrer, "u-3", device="dev-shared")
    _, reused_device = invite(referrer, "u-4", device="dev-shared")
    assert same_device.status == Referral.Status.REFUSED
    assert same_device.reason == "受邀人与邀请人使用同一台设备（疑似本人）"
    assert same_ip.reason == "受邀人与邀请人在同一网络下入会（疑似本人）"
    assert first.status == Referral.Status.JOINED
    assert reused_device.reason == "该设备已被其他受邀人使用过（疑似重复注册）"
    # A refused invitation never qualifies, whatever the invitee buys.
    buy("X1", 10_000, "u-1")
    same_device.refresh_from_db()
    assert same_device.status == Referral.Status.REFUSED
    shown = {i.reason for i in referral_invitations(member=referrer)}
    assert "受邀人与邀请人使用同一台设备（疑似本人）" in shown


def test_only_new_people_someone_who_bought_as_a_tourist_is_not(in_brand_a):
    program()
    rules()
    campaign()
    referrer = person("u-ref")
    with clock("2027-03-01 10:00:00"):
        buy("T1", 2_000, "u-tourist")  # a tourist's order, before they become a member
    with clock("2027-03-02 10:00:00"):
        _, referral = invite(referrer, "u-tourist", device="dev-t")
    assert referral.status == Referral.Status.REFUSED
    assert referral.reason == "受邀人入会前已在本品牌消费过，不是新顾客"


def test_first_touch_and_the_attribution_window(in_brand_a):
    program()
    rules()
    campaign(attribution_days=7)
    first, second = person("u-1"), person("u-2")
    invitee = person("u-new")
    with clock("2027-03-10 10:00:00"):
        bound = referral_bind(invitee=invitee, token=referral_link_get(member=first).token, device="d")
        again = referral_bind(invitee=invitee, token=referral_link_get(member=second).token, device="d")
    assert again.pk == bound.pk and again.referrer_id == first.pk
    late = person("u-late")
    with clock("2027-03-10 10:00:00"):
        opened = timezone.now() - dt.timedelta(days=7, seconds=1)
        refused = referral_bind(
            invitee=late, token=referral_link_get(member=first).token, touched_at=opened, device="d2"
        )
    assert refused.status == Referral.Status.REFUSED
    assert refused.reason == "受邀人打开邀请链接已超过 7 天才入会"


def test_caps_per_brand_month_refuse_the_referrers_side_only(in_brand_a):
    program()
    rules()
    campaign(cap_per_month=1)
    referrer = person("u-ref")
    done = []
    for n, when in enumerate(["2027-01-31 23:59:00", "2027-01-31 23:59:30", "2027-02-01 00:00:00"]):
        with clock(when):
            invitee, referral = invite(referrer, f"u-{n}", device=f"dev-{n}")
            buy(f"C{n}", 10_000, f"u-{n}")
            done.append((invitee, referral_reward(referral_id=referral.pk)))
    (_, r0), (i1, r1), (_, r2) = done
    assert r0.status == Referral.Status.REWARDED
    assert r1.status == Referral.Status.REFUSED
    assert r1.reason == "邀请人未获奖励：邀请人本月获得奖励已达上限（每月 1 人）"
    assert bonus_points(i1) == 50  # the invitee's own reward is a separate grant
    assert r2.status == Referral.Status.REWARDED  # February (brand time) is a new month
    assert bonus_points(referrer) == 200


def test_the_budget_refuses_both_sides_when_spent(in_brand_a):
    program()
    rules()
    campaign(budget=1)
    referrer = person("u-ref")
    results = []
    for n in range(2):
        invitee, referral = invite(referrer, f"u-{n}", device=f"dev-{n}")
        buy(f"B{n}", 10_000, f"u-{n}")
        results.append((invitee, referral_reward(referral_id=referral.pk)))
    assert results[1][1].status == Referral.Status.REFUSED
    assert results[1][1].reason == "活动预算（1 人次）已用完"
    assert bonus_points(results[1][0]) == 0
    assert ReferralCampaign.objects.get().budget_used == 1


def test_staff_record_the_referrer_in_store(in_brand_a):
    program()
    rules()
    campaign()
    referrer = person("u-ref")
    invitee = person("u-new")
    referral = referral_record_in_store(invitee=invitee, referrer_member_no=referrer.member_no, staff_id=None)
    assert referral.channel == Referral.Channel.STORE and referral.status == Referral.Status.JOINED
