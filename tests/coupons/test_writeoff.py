"""Write-off: validate (dry run with reasons), redeem (replay returns the first result), rollback
of any write-off, refunds returning or pro-rating the coupon, store scope; bad input changes
nothing. Also the member's list with reasons."""

import datetime as dt

import pytest

from coupons.models import Coupon, CouponEvent, CouponRedemption, CouponTemplate
from coupons.selectors import coupon_validate, member_coupons, member_coupons_grouped
from coupons.services import (
    coupon_codes_generate,
    coupon_issue,
    coupon_redeem,
    coupon_redemption_rollback,
    coupons_expire_due,
)
from crm.errors import AppError
from members.services.orders import order_post, order_refund
from tests.factories import MemberFactory, StoreFactory
from tests.members.loyalty_scene import member_with_unionid, program

from .scene import NOW, audit_clean, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]


def pooled(**fields):
    tpl = template(code_mode=CouponTemplate.CodeMode.GENERATED, generic_code="", **fields)
    coupon_codes_generate(template_id=tpl.pk, count=5)
    return tpl


def give(tpl, member, key="k"):
    return coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key=key, actor="boss")


def redeem(coupon, request_no="R1", amount=15_000, **kw):
    values = {"member_id": None, "store_code": None, "channel": "store", "order_no": "O1", "actor": "pos", **kw}
    return coupon_redeem(request_no=request_no, code=coupon.code, order_amount_fen=amount, **values)


def test_validate_then_redeem_and_replay_returns_the_first_result(in_brand_a):
    coupon = give(pooled(), MemberFactory.create())
    check = coupon_validate(code=coupon.code.lower(), member_id=None, store_code=None, order_amount_fen=15_000)
    assert (check.usable, check.discount_fen, check.payable_after_fen) == (True, 2_000, 13_000)
    first = redeem(coupon)
    replay = redeem(coupon)
    assert (first.replayed, replay.replayed, replay.redemption.pk) == (False, True, first.redemption.pk)
    coupon.refresh_from_db()
    assert coupon.state == "used"
    with pytest.raises(AppError) as again:
        redeem(coupon, request_no="R2")
    assert again.value.code == "coupon_used"
    with pytest.raises(AppError) as conflict:
        redeem(coupon, order_no="O2")  # R1 again, for another order
    assert conflict.value.code == "coupon_request_conflict"
    audit_clean()


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown", "coupon_not_found"),
        ("below_threshold", "coupon_below_threshold"),
        ("wrong_store", "coupon_wrong_store"),
        ("expired", "coupon_expired"),
        ("not_yet_valid", "coupon_not_yet_valid"),
        ("wrong_day", "coupon_wrong_day"),
    ],
)
def test_bad_input_is_refused_with_its_reason_and_changes_nothing(in_brand_a, case, code):
    home, other = StoreFactory.create(), StoreFactory.create()
    fields: dict = {"stores": [home]}
    if case == "not_yet_valid":
        fields.update(valid_from_date=NOW.date() + dt.timedelta(days=3))
    if case == "wrong_day":
        fields.update(weekdays=[6, 7])  # NOW is a Tuesday
    coupon = give(pooled(**fields), MemberFactory.create())
    amount = 5_000 if case == "below_threshold" else 15_000
    store = other if case == "wrong_store" else home
    if case == "expired":
        Coupon.objects.filter(pk=coupon.pk).update(valid_until=NOW - dt.timedelta(seconds=1))
    target = coupon.code if case != "unknown" else "NOSUCHCODE22"
    before = (CouponRedemption.objects.count(), CouponEvent.objects.count())
    with pytest.raises(AppError) as refused:
        coupon_redeem(
            request_no="R",
            code=target,
            member_id=None,
            store_code=store.code,
            channel="store",
            order_no="O",
            order_amount_fen=amount,
            actor="pos",
        )
    assert refused.value.code == code
    assert refused.value.message  # a sentence for people
    assert (CouponRedemption.objects.count(), CouponEvent.objects.count()) == before
    coupon.refresh_from_db()
    assert coupon.state == "issued"


def test_foreign_brands_code_is_unknown(in_brand_b):
    with pytest.raises(AppError) as refused:
        coupon_validate(code="SUMMER20", member_id=None, store_code=None, order_amount_fen=1)
    assert refused.value.code == "coupon_not_found"


def test_discount_never_exceeds_payable_and_percent_is_capped(in_brand_a):
    member = MemberFactory.create()
    big = give(pooled(threshold_fen=0, amount_off_fen=50_000), member, "a")
    assert coupon_validate(code=big.code, member_id=None, store_code=None, order_amount_fen=3_000).discount_fen == 3_000
    pct = pooled(kind=CouponTemplate.Kind.PERCENT_OFF, percent_off=12, cap_fen=1_000, threshold_fen=0, amount_off_fen=0)
    c = give(pct, member, "b")
    assert coupon_validate(code=c.code, member_id=None, store_code=None, order_amount_fen=5_000).discount_fen == 600
    assert coupon_validate(code=c.code, member_id=None, store_code=None, order_amount_fen=50_000).discount_fen == 1_000


def test_generic_code_needs_the_member(in_brand_a):
    member = MemberFactory.create()
    give(template(), member)
    with pytest.raises(AppError):
        coupon_validate(code="summer-20", member_id=None, store_code=None, order_amount_fen=20_000)
    assert coupon_validate(code="summer-20", member_id=member.pk, store_code=None, order_amount_fen=20_000).usable


def test_rollback_of_any_write_off_returns_the_coupon(in_brand_a):
    member = MemberFactory.create()
    tpl = pooled()
    first, second = give(tpl, member, "a"), give(tpl, member, "b")
    r1 = redeem(first, "R1").redemption
    redeem(second, "R2", order_no="O2")
    coupon_redemption_rollback(redemption_id=r1.pk, actor="pos")  # not the latest one
    assert coupon_redemption_rollback(redemption_id=r1.pk, actor="pos").status == "rolled_back"  # retry-safe
    first.refresh_from_db()
    assert first.state == "issued"
    assert list(CouponEvent.objects.filter(coupon=first).order_by("id").values_list("to_state", flat=True)) == [
        "issued",
        "used",
        "returned",
        "issued",
    ]
    assert redeem(first, "R3", order_no="O3").redemption.discount_fen == 2_000  # usable again
    audit_clean()


def test_refunds_return_the_coupon_in_full_and_pro_rate_in_part(in_brand_a):
    program()
    member = member_with_unionid("u-coupon")
    tpl = pooled()
    whole, part = give(tpl, member, "a"), give(tpl, member, "b")
    for coupon, order_no in ((whole, "FULL"), (part, "PART")):
        redeem(coupon, f"R-{order_no}", order_no=order_no)
        order_post(
            channel="store",
            order_no=order_no,
            paid_at=NOW - dt.timedelta(hours=1),
            amount_fen=13_000,
            buyer_kind="wechat_unionid",
            buyer_value="u-coupon",
            actor="pos",
        )
    order_refund(channel="store", order_no="FULL", refund_no="F1", amount_fen=13_000, refunded_at=NOW, actor="pos")
    order_refund(channel="store", order_no="PART", refund_no="P1", amount_fen=3_250, refunded_at=NOW, actor="pos")
    whole.refresh_from_db()
    part.refresh_from_db()
    assert (whole.state, part.state) == ("issued", "used")
    partial = CouponRedemption.objects.get(coupon=part)
    assert (partial.status, partial.discount_refunded_fen) == ("used", 500)  # 2,000 × 3,250 / 13,000
    assert CouponRedemption.objects.get(coupon=whole).status == "refunded"
    audit_clean()


def test_member_list_says_why_each_other_coupon_is_not_usable(in_brand_a):
    member = MemberFactory.create()
    usable = give(pooled(), member, "a")
    used = give(pooled(), member, "b")
    redeem(used, "R9")
    later = give(pooled(valid_from_date=NOW.date() + dt.timedelta(days=2)), member, "c")
    views = member_coupons(member_id=member.pk)
    assert views[0].coupon.pk == usable.pk and views[0].usable
    reasons = {v.coupon.pk: v.reasons for v in views}
    assert reasons[used.pk] == ["coupon_used"]
    assert reasons[later.pk] == ["coupon_not_yet_valid"]
    assert [v.reason_texts for v in views if v.coupon.pk == later.pk] == [["该券尚未生效。"]]
    groups = member_coupons_grouped(member_id=member.pk)
    assert ([v.coupon.pk for v in groups["usable"]], [v.coupon.pk for v in groups["used"]]) == (
        [usable.pk, later.pk],
        [used.pk],
    )


def test_expiry_job_expires_unused_coupons_with_history(in_brand_a):
    coupon = give(pooled(), MemberFactory.create())
    assert coupons_expire_due(now=NOW + dt.timedelta(days=30)) == 1
    coupon.refresh_from_db()
    assert coupon.state == "expired"
    audit_clean()
