"""Real races on several connections (committed data, a throw-away brand): 50 write-offs of one
single-use coupon → exactly one; 50 issues against a stock of 10 → exactly 10; one member racing
past their limit → exactly the limit. The audits stay clean."""

import threading

from django.db import connections
from django_tenants.utils import schema_context

from coupons.models import Coupon, CouponRedemption, CouponTemplate
from coupons.services import coupon_codes_generate, coupon_issue, coupon_redeem, coupons_audit
from crm.errors import AppError
from tests.factories import MemberFactory
from tests.members.loyalty_scene import throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

from .scene import template

race_brand = throwaway_brand
N = 50


def _outcomes(race_brand, jobs):
    ok: list[object] = []
    lock = threading.Lock()

    def wrap(job):
        def run():
            try:
                result = job()
            except AppError as exc:
                with lock:
                    ok.append(exc.code)
                return
            with lock:
                ok.append(result)

        return run

    errors = run_in_threads(race_brand, [wrap(j) for j in jobs])
    assert not errors, errors
    connections.close_all()
    return ok


def test_fifty_concurrent_redemptions_of_one_coupon_exactly_one_succeeds(race_brand):
    with schema_context(race_brand.schema_name):
        tpl = template(
            code_mode=CouponTemplate.CodeMode.GENERATED,
            generic_code="",
            valid_until_date=None,
            validity_kind=CouponTemplate.ValidityKind.RELATIVE,
            valid_days=30,
        )
        coupon_codes_generate(template_id=tpl.pk, count=1)
        member = MemberFactory.create()
        coupon = coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key="k", actor="t")

    def job(n):
        return lambda: coupon_redeem(
            request_no=f"R{n}",
            code=coupon.code,
            member_id=None,
            store_code=None,
            channel="store",
            order_no=f"O{n}",
            order_amount_fen=20_000,
            actor="pos",
        )

    outcomes = _outcomes(race_brand, [job(n) for n in range(N)])
    assert sum(1 for o in outcomes if not isinstance(o, str)) == 1
    assert sorted({o for o in outcomes if isinstance(o, str)}) == ["coupon_used"]
    with schema_context(race_brand.schema_name):
        assert CouponRedemption.objects.count() == 1
        assert coupons_audit() == []


def test_fifty_concurrent_issues_against_a_stock_of_ten_issue_exactly_ten(race_brand):
    with schema_context(race_brand.schema_name):
        tpl = template(
            stock_total=10, valid_until_date=None, validity_kind=CouponTemplate.ValidityKind.RELATIVE, valid_days=30
        )
        members = MemberFactory.create_batch(N)

    def job(member):
        return lambda: coupon_issue(template_id=tpl.pk, member_id=member.pk, source="api", source_key="s", actor="p")

    outcomes = _outcomes(race_brand, [job(m) for m in members])
    assert sum(1 for o in outcomes if isinstance(o, Coupon)) == 10
    assert sorted({o for o in outcomes if isinstance(o, str)}) == ["coupon_out_of_stock"]
    with schema_context(race_brand.schema_name):
        tpl.refresh_from_db()
        assert (Coupon.objects.filter(template=tpl).count(), tpl.stock_left) == (10, 0)
        assert coupons_audit() == []


def test_a_member_racing_past_their_limit_gets_exactly_the_limit(race_brand):
    with schema_context(race_brand.schema_name):
        tpl = template(
            per_member_limit=2, valid_until_date=None, validity_kind=CouponTemplate.ValidityKind.RELATIVE, valid_days=30
        )
        member = MemberFactory.create()

    def job(n):
        return lambda: coupon_issue(
            template_id=tpl.pk, member_id=member.pk, source="api", source_key=f"s{n}", actor="p"
        )

    outcomes = _outcomes(race_brand, [job(n) for n in range(20)])
    assert sum(1 for o in outcomes if isinstance(o, Coupon)) == 2
    with schema_context(race_brand.schema_name):
        assert Coupon.objects.filter(member=member).count() == 2
        assert coupons_audit() == []
