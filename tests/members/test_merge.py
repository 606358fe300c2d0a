"""member_merge: everything of the merged member moves to the survivor in one transaction."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from consent.models import ConsentRecord
from crm.errors import AppError
from members import error_codes
from members.models import (
    Identity,
    Member,
    MemberAssignment,
    MemberMerge,
    MemberTag,
    Order,
    PointsEntry,
    PointsLot,
    TierChange,
)
from members.selectors import member_ids_with_merged, member_lookup
from members.services.members import member_tag
from members.services.merge import member_merge
from tests.factories import StaffFactory, TagFactory, TierFactory


def _earn(member: Member, points: int, *, reference: str, pending: bool = False) -> PointsLot:
    """A credit written the way the points service writes one (entry + lot + cached balance)."""
    member.refresh_from_db()
    if pending:
        member.points_pending += points
    else:
        member.points_balance += points
    entry = PointsEntry.objects.create(
        member=member,
        kind=PointsEntry.Kind.EARN,
        points=points,
        balance_after=member.points_balance + member.points_pending - member.points_debt,
        reference=reference,
    )
    member.save(update_fields=["points_balance", "points_pending"])
    now = timezone.now()
    return PointsLot.objects.create(
        member=member,
        entry=entry,
        points=points,
        remaining=points,
        earned_at=now,
        available_at=now + dt.timedelta(days=7 if pending else 0),
        expires_at=now + dt.timedelta(days=365),
        pending=pending,
    )


def _order(member: Member, no: str) -> Order:
    return Order.objects.create(
        channel="store", order_no=no, paid_at=timezone.now(), amount_fen=10_000, member=member, is_member_order=True
    )


def _ledger_consistent(member: Member) -> bool:
    """The invariant of PointsLot's docstring, checked straight from the tables."""
    member.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(SUM(points), 0) FROM members_pointsentry WHERE member_id = %s", [member.pk])
        entries = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COALESCE(SUM(remaining), 0), COALESCE(SUM(remaining) FILTER (WHERE pending), 0) "
            "FROM members_pointslot WHERE member_id = %s AND NOT expired",
            [member.pk],
        )
        remaining, pending = cursor.fetchone()
    total = member.points_balance + member.points_pending
    return entries == total - member.points_debt and remaining == total and pending == member.points_pending


@pytest.fixture
def pair(enrol, staff_a):
    """Two accounts of one person: the store account and an online account without staff."""
    gold, silver = TierFactory(code="gold", name="金卡", rank=3), TierFactory(code="silver", name="银卡", rank=2)
    survivor = enrol(name="", mobile="13800000001", identities=[("pos_card", "P-1")])
    merged = enrol(
        name="陈静",
        mobile="13800000002",
        birthday=dt.date(1991, 3, 3),
        staff=StaffFactory(store=staff_a.store),
        identities=[("tmall_ouid", "T-1"), ("wechat_unionid", "U-1")],
    )
    Member.objects.filter(pk=survivor.pk).update(tier=silver)
    Member.objects.filter(pk=merged.pk).update(tier=gold, tier_floor=silver)
    return survivor, merged


def test_merge_moves_everything_and_is_audited(pair):
    survivor, merged = pair
    _earn(survivor, 100, reference="order:a")
    _earn(merged, 250, reference="order:b")
    _earn(merged, 40, reference="order:c", pending=True)
    _order(survivor, "S-1")
    _order(merged, "M-1")
    tag, shared = TagFactory(name="新客"), TagFactory(name="咖啡")
    member_tag(member=merged, tag=tag, actor="t")
    member_tag(member=merged, tag=shared, actor="t")
    member_tag(member=survivor, tag=shared, actor="t")
    merged_staff = merged.assigned_staff
    survivor_staff = survivor.assigned_staff

    record = member_merge(survivor=survivor, merged=merged, actor="admin@alpha.example", reason="同一顾客两个账号")

    survivor.refresh_from_db()
    merged.refresh_from_db()
    # identities and orders
    assert set(Identity.objects.filter(member=survivor).values_list("value", flat=True)) == {
        "+8613800000001",
        "+8613800000002",
        "P-1",
        "T-1",
        "U-1",
    }
    assert not Identity.objects.filter(member=merged).exists()
    assert set(Order.objects.filter(member=survivor).values_list("order_no", flat=True)) == {"S-1", "M-1"}
    # points: balances added, two merge entries, lots re-pointed, both ledgers consistent
    assert (survivor.points_balance, survivor.points_pending) == (350, 40)
    assert (merged.points_balance, merged.points_pending, merged.points_debt) == (0, 0, 0)
    assert list(PointsEntry.objects.filter(kind="merge").order_by("points").values_list("member_id", "points")) == [
        (merged.pk, -290),
        (survivor.pk, 290),
    ]
    assert PointsLot.objects.filter(member=survivor).count() == 3
    assert _ledger_consistent(survivor) and _ledger_consistent(merged)
    # tier: the better one, recorded; the floor comes along
    assert (survivor.tier.code, survivor.tier_floor.code) == ("gold", "silver")
    assert TierChange.objects.filter(member=survivor, reason="merge", to_tier__code="gold").exists()
    # assignment: the survivor keeps their own staff
    assert survivor.assigned_staff == survivor_staff
    assert merged.assigned_staff is None
    assert MemberAssignment.objects.filter(member=merged, from_staff=merged_staff, reason="merge").exists()
    # tags: the union, none left on the merged member
    assert set(MemberTag.objects.filter(member=survivor).values_list("tag__name", flat=True)) == {"新客", "咖啡"}
    assert not MemberTag.objects.filter(member=merged).exists()
    # profile gaps filled from the merged member
    assert (survivor.name, survivor.birthday) == ("陈静", dt.date(1991, 3, 3))
    # the merged member points at the survivor; look-ups by anything of it find the survivor
    assert (merged.status, merged.merged_into) == (Member.Status.MERGED, survivor)
    assert member_lookup(kind="member_no", value=merged.member_no) == survivor
    assert member_lookup(kind="tmall_ouid", value="T-1") == survivor
    # consent history of both stays readable from the survivor
    history = ConsentRecord.objects.filter(member_id__in=member_ids_with_merged(member=survivor))
    assert set(history.values_list("member_id", flat=True)) >= {survivor.pk, merged.pk}
    # audit
    assert (record.survivor, record.merged, record.actor) == (survivor, merged, "admin@alpha.example")
    assert record.moved["identities"] == 3 and record.moved["orders"] == 1 and record.moved["points_net"] == 290
    # the survivor now has two purchases in the window
    assert survivor.lifecycle_stage == Member.Lifecycle.LOYALTY


def test_survivor_without_staff_takes_the_merged_members_staff(enrol, staff_a):
    survivor = enrol(staff=None, home_store=staff_a.store, evidence=_member_page())
    merged = enrol()
    member_merge(survivor=survivor, merged=merged, actor="t", reason="同一人")
    survivor.refresh_from_db()
    assert survivor.assigned_staff == staff_a
    assert MemberAssignment.objects.filter(member=survivor, to_staff=staff_a, reason="merge").exists()


def _member_page():
    from consent.types import ConsentEvidence

    return ConsentEvidence(channel="member_page", ip="10.0.0.9")


def test_debt_moves_with_the_member(pair):
    survivor, merged = pair
    Member.objects.filter(pk=merged.pk).update(points_debt=30)
    PointsEntry.objects.create(member=merged, kind="reverse", points=-30, balance_after=-30, reference="refund:1")
    member_merge(survivor=survivor, merged=merged, actor="t", reason="同一人")
    survivor.refresh_from_db()
    assert survivor.points_debt == 30
    assert _ledger_consistent(survivor) and _ledger_consistent(merged)


@pytest.mark.parametrize("case", ["self", "already_merged", "erased", "no_reason"])
def test_invalid_merges_are_refused_and_change_nothing(pair, case):
    survivor, merged = pair
    reason = "同一人"
    if case == "self":
        merged = survivor
    elif case == "already_merged":
        member_merge(survivor=survivor, merged=merged, actor="t", reason="第一次")
    elif case == "erased":
        Member.objects.filter(pk=merged.pk).update(status=Member.Status.ERASED)
        merged.refresh_from_db()
    else:
        reason = "  "
    merges_before = MemberMerge.objects.count()
    with pytest.raises(AppError) as caught:
        member_merge(survivor=survivor, merged=merged, actor="t", reason=reason)
    assert caught.value.code == error_codes.MERGE_INVALID
    assert MemberMerge.objects.count() == merges_before


def test_a_failure_half_way_leaves_both_members_unchanged(pair, monkeypatch):
    survivor, merged = pair
    _earn(merged, 80, reference="order:x")
    _order(merged, "M-9")

    def audit_down(**kwargs):
        raise RuntimeError("audit table unavailable")

    # Fails at the very end, after identities, orders, points, lots and tags were moved.
    monkeypatch.setattr(MemberMerge.objects, "create", audit_down)
    with pytest.raises(RuntimeError):
        member_merge(survivor=survivor, merged=merged, actor="t", reason="同一人")

    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert merged.status == Member.Status.ACTIVE and merged.merged_into is None
    assert merged.points_balance == 80 and survivor.points_balance == 0
    assert Identity.objects.filter(member=merged).count() == 3
    assert Order.objects.get(order_no="M-9").member == merged
    assert PointsLot.objects.get(member=merged).remaining == 80
    assert not PointsEntry.objects.filter(kind="merge").exists()
    assert survivor.tier.code == "silver"
