"""members_member.owner_changed_at / owner_changed_to (migration 0021): the member's newest
assignment-history row, its time and to_staff (NULL, NULL without one) — kept by a trigger on the
history whoever writes it, read by the order ingest to know the owner at payment time without the
history (performance 0015). A Django save of a member read before the change cannot put an older
pair back: they are not model fields."""

import datetime as dt
import importlib
import threading
import time
from types import SimpleNamespace

from django.db import connection as django_connection
from django.db import transaction
from django_tenants.utils import schema_context

from crm.db import connection
from members.models import Member, MemberAssignment
from members.services.members import member_assign
from members.services.merge import member_merge
from tests.factories import StaffFactory, StoreFactory

from .loyalty_scene import member_with_unionid, throwaway_brand
from .test_ledger_concurrency import run_in_threads

race_brand = throwaway_brand

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
NONE = (None, None)


def owner_change(member: Member) -> tuple[dt.datetime | None, int | None]:
    """What the member row says: (owner_changed_at, owner_changed_to)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT owner_changed_at, owner_changed_to FROM members_member WHERE id = %s", [member.pk])
        return cursor.fetchone()


def newest_change(member: Member) -> tuple[dt.datetime | None, int | None]:
    """What the history says: its newest row, by (created_at, id)."""
    row = (
        MemberAssignment.objects.filter(member=member)
        .order_by("-created_at", "-id")
        .values_list("created_at", "to_staff_id")
        .first()
    )
    return row or NONE


def test_the_owner_change_follows_the_history_whoever_writes_it(enrol, staff_a):
    zhang, li = staff_a, StaffFactory(name="李四", store=staff_a.store)

    never = member_with_unionid("u-never", assigned_staff=zhang)  # an owner given at creation, no history
    assert owner_change(never) == NONE

    enrolled = enrol(staff=zhang)
    assert owner_change(enrolled) == newest_change(enrolled) != NONE

    stale = Member.objects.get(pk=enrolled.pk)  # read before the next change
    member_assign(member=enrolled, staff=li, reason=MemberAssignment.Reason.MANUAL, actor="店长")
    assert owner_change(enrolled) == newest_change(enrolled)
    assert owner_change(enrolled)[1] == li.pk
    stale.name = "王小三"
    stale.save()  # a whole-row save of the older copy (assigned_staff back to 张三: the history still says 李四)
    assert owner_change(enrolled) == newest_change(enrolled)
    assert owner_change(enrolled)[1] == li.pk

    # Backdated (as imports and tests do) to the same time: the later row wins the tie, as in the
    # history's own order; then removed: the newest that is left, then none.
    MemberAssignment.objects.filter(member=enrolled).update(created_at=T0)
    assert owner_change(enrolled) == (T0, li.pk)
    first = MemberAssignment.objects.filter(member=enrolled).order_by("id").first()
    MemberAssignment.objects.filter(pk=first.pk).update(created_at=T0 + dt.timedelta(days=1))
    assert owner_change(enrolled) == (T0 + dt.timedelta(days=1), zhang.pk)
    MemberAssignment.objects.filter(member=enrolled).exclude(pk=first.pk).delete()
    assert owner_change(enrolled) == (T0 + dt.timedelta(days=1), zhang.pk)
    MemberAssignment.objects.filter(pk=first.pk).update(to_staff=None)  # corrected by hand: an unassignment
    assert owner_change(enrolled) == (T0 + dt.timedelta(days=1), None)
    MemberAssignment.objects.filter(member=enrolled).delete()
    assert owner_change(enrolled) == NONE

    # A row moved to another member changes both.
    other = member_with_unionid("u-other")
    member_assign(member=other, staff=li, reason=MemberAssignment.Reason.MANUAL, actor="店长")
    MemberAssignment.objects.filter(member=other).update(member=never)
    assert owner_change(other) == NONE
    assert owner_change(never) == newest_change(never) == (newest_change(never)[0], li.pk)


def test_a_merge_records_both_members_changes(in_brand_a):
    zhang = StaffFactory(name="张三", store=StoreFactory(name="静安店"))
    survivor = member_with_unionid("u-survivor")
    merged = member_with_unionid("u-merged")
    member_assign(member=merged, staff=zhang, reason=MemberAssignment.Reason.MANUAL, actor="店长")

    member_merge(survivor=survivor, merged=merged, actor="店长", reason="同一人两个账号")

    assert owner_change(survivor) == newest_change(survivor) == (newest_change(survivor)[0], zhang.pk)
    assert owner_change(merged) == newest_change(merged) == (newest_change(merged)[0], None)  # left nobody's


def lock_waits() -> int:
    """Backends of this database waiting for a lock now (a fresh look: not the transaction's snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_two_changes_at_once_leave_the_newest(race_brand):
    """The later change commits first; the earlier one, written meanwhile by another transaction,
    waits for the member's row and then reads the history afresh: the newest change stays. (Read in
    the one statement that waited, the history would have missed the committed row.)"""
    with schema_context(race_brand.schema_name):
        zhang = StaffFactory(name="张三", store=StoreFactory(name="静安店"))
        li = StaffFactory(name="李四", store=zhang.store)
        member = member_with_unionid("u-race")
    late, early = T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=1)
    written = threading.Event()
    waited: list[bool] = []

    def change(at: dt.datetime, staff_id: int) -> None:
        # One statement, at its own time (the ORM would stamp now, and a second statement would see
        # the other transaction's row anyway).
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO members_memberassignment (created_at, updated_at, member_id, to_staff_id, reason,"
                " actor, note) VALUES (%s, %s, %s, %s, 'manual', '', '')",
                [at, at, member.pk, staff_id],
            )

    def later_first() -> None:
        with transaction.atomic():
            change(late, zhang.pk)
            written.set()
            deadline = time.monotonic() + 30
            while not lock_waits() and time.monotonic() < deadline:  # until the other one waits for the row
                time.sleep(0.02)
            waited.append(bool(lock_waits()))

    def earlier_meanwhile() -> None:
        assert written.wait(timeout=30)
        with transaction.atomic():
            change(early, li.pk)

    assert run_in_threads(race_brand, [later_first, earlier_meanwhile]) == []

    assert waited == [True]  # the earlier change did wait for the later one's commit
    with schema_context(race_brand.schema_name):
        assert owner_change(member) == (late, zhang.pk)
    django_connection.close()


def test_the_backfill_fills_what_the_trigger_has_not_written_and_nothing_else(enrol, staff_a, monkeypatch):
    backfill = importlib.import_module("members.migrations.0022_member_owner_changed_at_backfill")
    written = [enrol(staff=staff_a) for _ in range(3)]  # history written while no trigger kept the columns:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_member SET owner_changed_at = NULL, owner_changed_to = NULL WHERE id = ANY(%s)",
            [[m.pk for m in written]],
        )
        # …and a pair the trigger wrote meanwhile, which the batch must not replace with its own
        cursor.execute(
            "UPDATE members_member SET owner_changed_at = %s, owner_changed_to = %s WHERE id = %s",
            [T0, staff_a.pk, written[2].pk],
        )
    never = member_with_unionid("u-never")
    monkeypatch.setattr(backfill, "BATCH", 1)  # a batch per member: every boundary crossed

    backfill.backfill(None, SimpleNamespace(connection=connection))

    assert [owner_change(m) for m in written] == [
        newest_change(written[0]),
        newest_change(written[1]),
        (T0, staff_a.pk),
    ]
    assert newest_change(written[0])[1] == staff_a.pk
    assert owner_change(never) == NONE
