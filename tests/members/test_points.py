"""Points ledger: manual adjustments limited by role, bonus awards (single and set-based, both
idempotent), expiry by lot (expiring first), the append-only ledger, and the audit invariant."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, InternalError, connection, transaction
from django.utils import timezone

from crm.errors import AppError
from members import roles
from members.models import LoyaltyProgram, Member, PointsEntry, PointsLot, PointsLotConsumption
from members.services.orders import order_post
from members.services.points import (
    ledger_audit,
    lot_expires_at,
    points_award_bonus,
    points_award_bonus_bulk,
    points_expire_due,
    points_release_pending,
)
from members.services.points_adjustments import points_adjust
from tests.factories import MemberFactory

from .loyalty_scene import ago, member_with_unionid, program


def user_in(role: str, username: str) -> User:
    user = User.objects.create_user(username=username, password="x-Secret-2026", is_staff=True)
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    return user


def test_adjustment_limits_follow_the_role(in_brand_a):
    program()
    member = MemberFactory()
    staff = user_in(roles.STORE_STAFF, "staff@a")
    admin = user_in(roles.BRAND_ADMIN, "boss@a")
    nobody = User.objects.create_user(username="nobody@a", password="x-Secret-2026")

    points_adjust(member=member, points=500, reason="补录线下消费", actor=staff)
    with pytest.raises(AppError) as over:
        points_adjust(member=member, points=501, reason="补录", actor=staff)
    with pytest.raises(AppError) as forbidden:
        points_adjust(member=member, points=1, reason="补录", actor=nobody)
    points_adjust(member=member, points=100_000, reason="客诉补偿", actor=admin)

    assert over.value.code == "points_adjust_over_limit"
    assert forbidden.value.code == "points_adjust_forbidden"
    member.refresh_from_db()
    assert member.points_balance == 100_500
    entries = PointsEntry.objects.filter(member=member).order_by("id")
    assert [(e.kind, e.points, e.actor, e.reason) for e in entries] == [
        ("adjust", 500, "staff@a", "补录线下消费"),
        ("adjust", 100_000, "boss@a", "客诉补偿"),
    ]


def test_adjustment_needs_a_reason_and_cannot_go_below_zero(in_brand_a):
    program()
    member = MemberFactory()
    admin = user_in(roles.BRAND_ADMIN, "boss@a")
    points_adjust(member=member, points=50, reason="补偿", actor=admin)

    with pytest.raises(AppError) as no_reason:
        points_adjust(member=member, points=10, reason="  ", actor=admin)
    with pytest.raises(AppError) as below_zero:
        points_adjust(member=member, points=-51, reason="扣回", actor=admin)
    points_adjust(member=member, points=-50, reason="扣回", actor=admin)

    assert no_reason.value.code == "points_invalid" and below_zero.value.code == "points_insufficient"
    member.refresh_from_db()
    assert member.points_balance == 0
    assert ledger_audit() == []


def test_adjustment_with_a_reference_is_safe_to_retry(in_brand_a):
    program()
    member = MemberFactory()
    admin = user_in(roles.BRAND_ADMIN, "boss@a")
    first = points_adjust(member=member, points=30, reason="补偿", actor=admin, reference="ticket-7")
    again = points_adjust(member=member, points=30, reason="补偿", actor=admin, reference="ticket-7")
    assert first.entry is not None and again.entry is not None
    assert first.entry.pk == again.entry.pk
    member.refresh_from_db()
    assert member.points_balance == 30


def test_frozen_member_keeps_earning_but_cannot_be_debited(in_brand_a):
    program()
    member = member_with_unionid("u-1", status=Member.Status.FROZEN)
    order_post(
        channel="store",
        order_no="F1",
        paid_at=ago(minutes=1),
        amount_fen=10_000,
        buyer_kind="wechat_unionid",
        buyer_value="u-1",
        actor="pos",
    )
    with pytest.raises(AppError) as exc:
        points_adjust(member=member, points=-10, reason="扣回", actor=user_in(roles.BRAND_ADMIN, "b@a"))
    member.refresh_from_db()
    assert member.points_balance == 100 and exc.value.code == "member_not_eligible"


def test_bonus_is_idempotent_per_reference(in_brand_a):
    program()
    member = MemberFactory()
    expires = timezone.now() + dt.timedelta(days=30)
    first = points_award_bonus(member=member, points=88, reference="occ:1", reason="会员日", expires_at=expires)
    again = points_award_bonus(member=member, points=88, reference="occ:1", reason="会员日", expires_at=expires)
    assert first.pk == again.pk
    member.refresh_from_db()
    assert member.points_balance == 88
    assert PointsLot.objects.get(member=member).expires_at == expires


def test_bulk_bonus_awards_each_member_once_and_pays_debt_first(in_brand_a):
    program()
    plain = MemberFactory(points_balance=0)
    in_debt = MemberFactory()
    erased = MemberFactory(status=Member.Status.ERASED)
    other = MemberFactory()
    # A member who owes 30 points (reversed after spending), consistent with the ledger.
    Member.objects.filter(pk=in_debt.pk).update(points_debt=30)
    PointsEntry.objects.create(member=in_debt, kind="reverse", points=-30, balance_after=-30, reference="seed")
    audience = Member.objects.filter(pk__in=[plain.pk, in_debt.pk, erased.pk])

    awarded = points_award_bonus_bulk(members=audience, points=100, reference="occ:42", reason="会员日赠送")
    again = points_award_bonus_bulk(members=audience, points=100, reference="occ:42", reason="会员日赠送")

    assert (awarded, again) == (2, 0)
    balances = dict(Member.objects.values_list("pk", "points_balance"))
    assert balances[plain.pk] == 100 and balances[in_debt.pk] == 70 and balances[erased.pk] == 0
    assert balances[other.pk] == 0
    assert Member.objects.get(pk=in_debt.pk).points_debt == 0
    assert PointsEntry.objects.filter(reference="occ:42").count() == 2
    assert ledger_audit() == []


def test_bulk_bonus_accepts_raw_sql_audiences(in_brand_a):
    program()
    a, b = MemberFactory(), MemberFactory()
    sql = f"SELECT id FROM {Member._meta.db_table} WHERE id = ANY(%s)"  # noqa: S608
    assert points_award_bonus_bulk(members=(sql, [[a.pk, b.pk]]), points=5, reference="r", reason="x") == 2


def test_expiry_job_expires_lots_whose_time_has_come(in_brand_a):
    program()
    member = MemberFactory()
    now = timezone.now()
    points_award_bonus(member=member, points=40, reference="soon", reason="x", expires_at=now + dt.timedelta(days=1))
    points_award_bonus(member=member, points=60, reference="later", reason="x", expires_at=now + dt.timedelta(days=90))

    summary = points_expire_due(now=now + dt.timedelta(days=2))
    rerun = points_expire_due(now=now + dt.timedelta(days=2, seconds=1))

    assert summary == {"members": 1, "points": 40} and rerun == {"members": 0, "points": 0}
    member.refresh_from_db()
    assert member.points_balance == 60
    entry = PointsEntry.objects.get(member=member, kind="expire")
    assert entry.points == -40 and entry.balance_after == 60
    soon = PointsLot.objects.get(entry__reference="soon")
    assert soon.expired and soon.remaining == 0
    assert PointsLotConsumption.objects.get(entry=entry).lot == soon
    assert ledger_audit() == []


def test_pending_release_goes_chunk_by_chunk_and_resumes_after_a_crash(in_brand_a, monkeypatch):
    from members.services import points

    program(pending_days=7)
    buyers = [member_with_unionid(f"u-{n}") for n in range(3)]
    for n in range(3):
        order_post(
            channel="tmall",
            order_no=f"P{n}",
            paid_at=ago(minutes=5),
            amount_fen=10_000 * (n + 1),
            buyer_kind="wechat_unionid",
            buyer_value=f"u-{n}",
            actor="pos",
        )
    # One member per chunk (each chunk is a transaction of its own), and a crash in the second.
    ranges = points.member_id_ranges
    monkeypatch.setattr(points, "member_id_ranges", lambda cursor: ranges(cursor, chunk=1))
    release_chunk = points._points_release_chunk
    done: list[int] = []

    def crash_after_first_release(*, now, lo, hi):
        if done:
            raise RuntimeError("worker killed")
        released = release_chunk(now=now, lo=lo, hi=hi)
        if released:
            done.append(lo)
        return released

    later = timezone.now() + dt.timedelta(days=8)
    monkeypatch.setattr(points, "_points_release_chunk", crash_after_first_release)
    with pytest.raises(RuntimeError):
        points_release_pending(now=later)
    released = [m.pk for m in buyers if PointsLot.objects.get(member=m).pending is False]
    assert len(released) == 1  # the first chunk stayed done

    monkeypatch.setattr(points, "_points_release_chunk", release_chunk)
    assert points_release_pending(now=later) == {"members": 2}  # the rest, nothing twice
    assert points_release_pending(now=later) == {"members": 0}
    for member, earned in zip(buyers, (100, 200, 300), strict=True):
        member.refresh_from_db()
        assert (member.points_balance, member.points_pending) == (earned, 0)
    assert ledger_audit() == []


def test_redemption_spends_the_points_that_expire_first(in_brand_a):
    program()
    member = MemberFactory()
    admin = user_in(roles.BRAND_ADMIN, "boss@a")
    now = timezone.now()
    points_award_bonus(member=member, points=50, reference="late", reason="x", expires_at=now + dt.timedelta(days=90))
    points_award_bonus(member=member, points=50, reference="never", reason="x", expires_at=None)
    points_award_bonus(member=member, points=50, reference="soon", reason="x", expires_at=now + dt.timedelta(days=5))

    debit = points_adjust(member=member, points=-70, reason="扣回", actor=admin).entry

    taken = {c.lot.entry.reference: c.points for c in PointsLotConsumption.objects.filter(entry=debit)}
    assert taken == {"soon": 50, "late": 20}


def test_expiry_policies(in_brand_a):
    earned = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)
    never = program(expiry=LoyaltyProgram.Expiry.NEVER)
    assert lot_expires_at(program=never, earned_at=earned) is None
    days = program(expiry=LoyaltyProgram.Expiry.DAYS, expiry_days=30)
    assert lot_expires_at(program=days, earned_at=earned) == earned + dt.timedelta(days=30)
    end_of_year = program(expiry=LoyaltyProgram.Expiry.END_OF_YEAR)
    expires = lot_expires_at(program=end_of_year, earned_at=earned)
    assert expires is not None and expires.isoformat() == "2028-01-01T00:00:00+08:00"


def test_the_database_refuses_to_edit_or_delete_ledger_entries(in_brand_a):
    member = MemberFactory()
    entry = points_award_bonus(member=member, points=5, reference="x", reason="x")
    for statement in (
        lambda: PointsEntry.objects.filter(pk=entry.pk).update(points=500),
        lambda: PointsEntry.objects.filter(pk=entry.pk).delete(),
    ):
        with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
            statement()
    assert PointsEntry.objects.get(pk=entry.pk).points == 5


def test_audit_finds_drift(in_brand_a):
    member = MemberFactory()
    points_award_bonus(member=member, points=5, reference="x", reason="x")
    assert ledger_audit() == []
    Member.objects.filter(pk=member.pk).update(points_balance=7)  # somebody bypassed the services

    (drift,) = ledger_audit()
    assert drift.member_id == member.pk and drift.entries_total == 5 and drift.balance == 7


def test_points_of_brand_a_are_invisible_in_brand_b(brand_a, brand_b):
    connection.set_tenant(brand_a)
    member = MemberFactory()
    points_award_bonus(member=member, points=5, reference="x", reason="x")
    connection.set_tenant(brand_b)
    assert PointsEntry.objects.count() == 0 and PointsLot.objects.count() == 0
    assert ledger_audit() == []
