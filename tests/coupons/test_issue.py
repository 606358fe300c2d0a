"""Issuing: one engine for every source, idempotent per source key, limits and stock atomic, pools
fail closed, validity windows in brand days; templates immutable once issued."""

import datetime as dt

import pytest
from django.db import connection

from coupons.models import Coupon, CouponEvent, CouponTemplate
from coupons.services import (
    coupon_codes_generate,
    coupon_codes_import,
    coupon_exchange,
    coupon_issue,
    coupon_template_update,
    coupons_issue_bulk,
)
from crm.errors import AppError
from members.models import Member
from members.services.points import points_award_bonus
from tests.clock import SHANGHAI
from tests.factories import MemberFactory
from tests.members.loyalty_scene import program

from .scene import NOW, audit_clean, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]


def test_issue_is_idempotent_per_source_key_and_writes_history(in_brand_a):
    member = MemberFactory.create()
    tpl = template()
    first = coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key="k1", actor="boss")
    again = coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key="k1", actor="boss")
    assert first.pk == again.pk
    assert Coupon.objects.filter(member=member).count() == 1
    assert list(CouponEvent.objects.filter(coupon=first).values_list("from_state", "to_state")) == [("", "issued")]
    # "until 6-30" is 23:59:59 brand time
    assert first.valid_until.astimezone(SHANGHAI).replace(microsecond=0) == dt.datetime(
        2027, 6, 30, 23, 59, 59, tzinfo=SHANGHAI
    )
    audit_clean()


def test_stock_and_member_limit_refuse_and_change_nothing(in_brand_a):
    tpl = template(stock_total=2, per_member_limit=1)
    a, b, c = MemberFactory.create_batch(3)
    coupon_issue(template_id=tpl.pk, member_id=a.pk, source="admin", source_key="x", actor="boss")
    with pytest.raises(AppError) as over:
        coupon_issue(template_id=tpl.pk, member_id=a.pk, source="admin", source_key="y", actor="boss")
    assert over.value.code == "coupon_over_member_limit"
    coupon_issue(template_id=tpl.pk, member_id=b.pk, source="admin", source_key="x", actor="boss")
    with pytest.raises(AppError) as out:
        coupon_issue(template_id=tpl.pk, member_id=c.pk, source="admin", source_key="x", actor="boss")
    assert out.value.code == "coupon_out_of_stock"
    tpl.refresh_from_db()
    assert (tpl.stock_total, tpl.stock_left) == (2, 0)
    assert Coupon.objects.filter(template=tpl).count() == 2
    audit_clean()


def test_bulk_issue_to_a_segment_takes_stock_in_member_order_and_skips_inactive(in_brand_a):
    members = MemberFactory.create_batch(5)
    frozen = MemberFactory.create(status=Member.Status.FROZEN)
    tpl = template(stock_total=3)
    ids = [m.pk for m in members] + [frozen.pk]
    segment = ("SELECT unnest(%s::bigint[])", [ids])
    result = coupons_issue_bulk(
        template_id=tpl.pk, members=segment, source="campaign", source_key="campaign:7", actor="c"
    )
    assert (result.eligible, result.issued_now, result.out_of_stock) == (5, 3, 2)
    assert set(Coupon.objects.filter(template=tpl).values_list("member_id", flat=True)) == {m.pk for m in members[:3]}
    rerun = coupons_issue_bulk(
        template_id=tpl.pk, members=segment, source="campaign", source_key="campaign:7", actor="c"
    )
    assert (rerun.issued_now, rerun.already) == (0, 3)
    audit_clean()


def test_generated_pool_gives_unique_readable_codes_and_fails_closed(in_brand_a):
    tpl = template(code_mode=CouponTemplate.CodeMode.GENERATED, generic_code="")
    assert coupon_codes_generate(template_id=tpl.pk, count=3) == 3
    members = MemberFactory.create_batch(4)
    segment = ("SELECT unnest(%s::bigint[])", [[m.pk for m in members]])
    result = coupons_issue_bulk(template_id=tpl.pk, members=segment, source="admin", source_key="b1", actor="boss")
    assert (result.issued_now, result.out_of_stock) == (3, 1)
    codes = list(Coupon.objects.filter(template=tpl).values_list("code", flat=True))
    assert len(set(codes)) == 3
    assert all(len(c) == 16 and not set(c) & set("01OI") for c in codes)
    with pytest.raises(AppError) as exhausted:
        coupon_issue(template_id=tpl.pk, member_id=members[3].pk, source="admin", source_key="b2", actor="boss")
    assert exhausted.value.code == "coupon_out_of_stock"
    audit_clean()


def test_imported_pool_is_stored_hashed_and_refuses_duplicates(in_brand_a):
    tpl = template(code_mode=CouponTemplate.CodeMode.IMPORTED, generic_code="")
    assert coupon_codes_import(template_id=tpl.pk, codes=["ABCD-1234-XY", "QWERTY99"]) == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM coupons_couponcode WHERE code = '' AND hint <> ''")
        assert cursor.fetchone()[0] == 2
    with pytest.raises(AppError):
        coupon_codes_import(template_id=tpl.pk, codes=["NEWCODE1", "abcd1234xy"])  # one exists already
    tpl.refresh_from_db()
    assert tpl.stock_total == 2


def test_relative_validity_with_wait_days_is_intersected_with_the_template(in_brand_a):
    tpl = template(
        validity_kind=CouponTemplate.ValidityKind.RELATIVE,
        valid_days=30,
        wait_days=1,
        valid_until_date=dt.date(2027, 7, 1),
    )
    coupon = coupon_issue(
        template_id=tpl.pk, member_id=MemberFactory.create().pk, source="api", source_key="r", actor="p"
    )
    assert coupon.valid_from.astimezone(SHANGHAI) == dt.datetime(2027, 6, 16, tzinfo=SHANGHAI)
    assert coupon.valid_until.astimezone(SHANGHAI).date() == dt.date(2027, 7, 1)  # the template ends first


def test_template_is_immutable_once_issued_except_stock_up_later_end_deactivate(in_brand_a):
    tpl = template(stock_total=5)
    coupon_template_update(template_id=tpl.pk, changes={"amount_off_fen": 3_000})  # not issued yet: fine
    coupon_issue(template_id=tpl.pk, member_id=MemberFactory.create().pk, source="admin", source_key="a", actor="b")
    for changes in ({"amount_off_fen": 5_000}, {"stock_total": 4}, {"valid_until_date": dt.date(2027, 6, 20)}):
        with pytest.raises(AppError) as refused:
            coupon_template_update(template_id=tpl.pk, changes=changes)
        assert refused.value.code == "coupon_template_locked"
    coupon_template_update(
        template_id=tpl.pk, changes={"stock_total": 8, "valid_until_date": dt.date(2027, 7, 31), "is_active": False}
    )
    tpl.refresh_from_db()
    assert (tpl.amount_off_fen, tpl.stock_total, tpl.stock_left, tpl.is_active) == (3_000, 8, 7, False)
    with pytest.raises(AppError) as inactive:
        coupon_issue(template_id=tpl.pk, member_id=MemberFactory.create().pk, source="admin", source_key="a", actor="b")
    assert inactive.value.code == "coupon_template_inactive"
    audit_clean()


def test_points_exchange_spends_points_and_issues_in_one_transaction(in_brand_a):
    program()
    member = MemberFactory.create()
    points_award_bonus(member=member, points=150, reference="seed", reason="初始")
    tpl = template(points_price=100, stock_total=1)
    coupon = coupon_exchange(template_id=tpl.pk, member_id=member.pk, request_key="ex1", actor="member")
    assert coupon_exchange(template_id=tpl.pk, member_id=member.pk, request_key="ex1", actor="member").pk == coupon.pk
    member.refresh_from_db()
    assert member.points_balance == 50
    other = MemberFactory.create()
    points_award_bonus(member=other, points=150, reference="seed", reason="初始")
    with pytest.raises(AppError) as out:
        coupon_exchange(template_id=tpl.pk, member_id=other.pk, request_key="ex2", actor="member")
    assert out.value.code == "coupon_out_of_stock"
    other.refresh_from_db()
    assert other.points_balance == 150  # the debit rolled back with the refused issue
    audit_clean()


def test_issue_window_over_is_refused(in_brand_a):
    tpl = template(valid_until_date=NOW.date() - dt.timedelta(days=1), valid_from_date=dt.date(2027, 6, 1))
    with pytest.raises(AppError):
        coupon_issue(template_id=tpl.pk, member_id=MemberFactory.create().pk, source="admin", source_key="z", actor="b")


@pytest.fixture
def no_ddl():
    """Any DDL on this connection (a CREATE TEMP TABLE, its index, a DROP) raises, until the test's
    transaction rolls the event trigger back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION public.test_refuse_ddl() RETURNS event_trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'DDL during the test: %', tg_tag; END $$"
        )
        cursor.execute(
            "CREATE EVENT TRIGGER test_refuse_ddl ON ddl_command_start EXECUTE FUNCTION public.test_refuse_ddl()"
        )
    yield


def test_a_chunked_issue_makes_no_table_and_keeps_limit_stock_and_idempotency(in_brand_a, no_ddl):
    """No temporary table: on Citus a coordinator-local table cannot be joined to the brand's
    distributed ones (docs/scale-out.md), so every statement of an issue reads and writes the
    brand's own tables, the batch passed as an array. Chunks of two: the one at its limit, the stock
    running out in the third chunk, a re-run issuing nobody twice."""
    members = MemberFactory.create_batch(5)
    tpl = template(stock_total=4, per_member_limit=1)
    coupon_issue(template_id=tpl.pk, member_id=members[1].pk, source="admin", source_key="earlier", actor="boss")
    segment = ("SELECT unnest(%s::bigint[])", [[m.pk for m in reversed(members)] + [members[0].pk]])

    def issue() -> tuple[int, int, int, int, int]:
        r = coupons_issue_bulk(
            template_id=tpl.pk, members=segment, source="campaign", source_key="c:9", actor="c", chunk_size=2
        )
        return (r.eligible, r.issued_now, r.already, r.over_limit, r.out_of_stock)

    assert issue() == (5, 3, 0, 1, 1)
    issued = Coupon.objects.filter(template=tpl, source_key="c:9").values_list("member_id", flat=True)
    assert sorted(issued) == [members[0].pk, members[2].pk, members[3].pk]
    assert issue() == (5, 0, 3, 1, 1)
    tpl.refresh_from_db()
    assert tpl.stock_left == 0
    assert Coupon.objects.filter(template=tpl).count() == 4
    audit_clean()


def test_a_long_issue_keeps_custom_plans_for_its_batches(in_brand_a):
    """From the sixth chunk on psycopg runs the chunk's statements prepared; a generic plan takes
    an array parameter for ten members and nest-loops the chunk's range (minutes a chunk at 1M).
    Each chunk asks for custom plans, and puts the caller's setting back."""
    members = MemberFactory.create_batch(16)
    tpl = template(stock_total=100, per_member_limit=1)
    segment = ("SELECT unnest(%s::bigint[])", [[m.pk for m in members]])
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('plan_cache_mode')")
        before = cursor.fetchone()[0]
        result = coupons_issue_bulk(
            template_id=tpl.pk, members=segment, source="campaign", source_key="c:8", actor="c", chunk_size=1
        )
        assert result.issued_now == 16
        cursor.execute(
            "SELECT statement, generic_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%%unnest(%%::bigint[])%%'"
        )
        batches = dict(cursor.fetchall())
        cursor.execute("SELECT current_setting('plan_cache_mode')")
        assert cursor.fetchone()[0] == before
    assert batches and not any(batches.values()), batches  # prepared, never on a generic plan
    audit_clean()
