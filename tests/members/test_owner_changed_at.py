"""members_member.owner_changed_at (migration 0021): the time of the member's newest assignment
history row, NULL without one — kept by a trigger on the history whoever writes it, read by the order
ingest to know the owner at payment time without the history (performance 0015). A Django save of a
member read before the change cannot put an older value back: it is not a model field."""

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


def changed_at(member: Member) -> dt.datetime | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT owner_changed_at FROM members_member WHERE id = %s", [member.pk])
        return cursor.fetchone()[0]


def newest_change(member: Member) -> dt.datetime | None:
    return (
        MemberAssignment.objects.filter(member=member)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def test_the_owner_change_time_follows_the_history_whoever_writes_it(enrol, staff_a):
    zhang, li = staff_a, StaffFactory(name="李四", store=staff_a.store)

    never = member_with_unionid("u-never", assigned_staff=zhang)  # an owner given at creation, no history
    assert changed_at(never) is None

    enrolled = enrol(staff=zhang)
    assert changed_at(enrolled) == newest_change(enrolled) is not None

    stale = Member.objects.get(pk=enrolled.pk)  # read before the next change
    member_assign(member=enrolled, staff=li, reason=MemberAssignment.Reason.MANUAL, actor="店长")
    assert changed_at(enrolled) == newest_change(enrolled)
    stale.name = "王小三"
    stale.save()  # a whole-row save of the older copy
    assert changed_at(enrolled) == newest_change(enrolled)

    # Backdated (as imports and tests do), then removed: the newest that is left, then none.
    MemberAssignment.objects.filter(member=enrolled).update(created_at=T0)
    assert changed_at(enrolled) == T0
    first = MemberAssignment.objects.filter(member=enrolled).order_by("id").first()
    MemberAssignment.objects.filter(pk=first.pk).update(created_at=T0 - dt.timedelta(days=1))
    assert changed_at(enrolled) == T0
    MemberAssignment.objects.filter(member=enrolled).exclude(pk=first.pk).delete()
    assert changed_at(enrolled) == T0 - dt.timedelta(days=1)
    MemberAssignment.objects.filter(member=enrolled).delete()
    assert changed_at(enrolled) is None

    # A row moved to another member changes both.
    other = member_with_unionid("u-other")
    member_assign(member=other, staff=zhang, reason=MemberAssignment.Reason.MANUAL, actor="店长")
    MemberAssignment.objects.filter(member=other).update(member=never)
    assert changed_at(other) is None and changed_at(never) == newest_change(never) is not None


def test_a_merge_records_both_members_changes(in_brand_a):
    zhang = StaffFactory(name="张三", store=StoreFactory(name="静安店"))
    survivor = member_with_unionid("u-survivor")
    merged = member_with_unionid("u-merged")
    member_assign(member=merged, staff=zhang, reason=MemberAssignment.Reason.MANUAL, actor="店长")

    member_merge(survivor=survivor, merged=merged, actor="店长", reason="同一人两个账号")

    assert changed_at(survivor) == newest_change(survivor) is not None
    assert changed_at(merged) == newest_change(merged) > changed_at(survivor) - dt.timedelta(seconds=5)


def test_two_changes_at_once_leave_the_newest_time(race_brand):
    """The later change commits first; the earlier one, written meanwhile by another transaction,
    waits for the member's row and then reads the history afresh: the newest time stays. (Read in
    the one statement that waited, the history would have missed the committed row.)"""
    with schema_context(race_brand.schema_name):
        zhang = StaffFactory(name="张三", store=StoreFactory(name="静安店"))
        member = member_with_unionid("u-race")
    late, early = T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=1)
    written = threading.Event()
    finished: dict[str, float] = {}

    def change(at: dt.datetime) -> None:
        # One statement, at its own time (the ORM would stamp now, and a second statement would see
        # the other transaction's row anyway).
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO members_memberassignment (created_at, updated_at, member_id, to_staff_id, reason,"
                " actor, note) VALUES (%s, %s, %s, %s, 'manual', '', '')",
                [at, at, member.pk, zhang.pk],
            )

    def later_first() -> None:
        with transaction.atomic():
            change(late)
            written.set()
            time.sleep(0.5)  # the other transaction writes its change and waits for the member row
        finished["late"] = time.monotonic()

    def earlier_meanwhile() -> None:
        assert written.wait(timeout=30)
        with transaction.atomic():
            change(early)
        finished["early"] = time.monotonic()

    assert run_in_threads(race_brand, [later_first, earlier_meanwhile]) == []

    assert finished["early"] > finished["late"]  # it did wait
    with schema_context(race_brand.schema_name):
        assert changed_at(member) == late
    django_connection.close()


def test_the_backfill_fills_what_the_trigger_has_not_written_and_nothing_else(enrol, staff_a, monkeypatch):
    backfill = importlib.import_module("members.migrations.0022_member_owner_changed_at_backfill")
    written = [enrol(staff=staff_a) for _ in range(3)]  # history written while no trigger kept the column:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_member SET owner_changed_at = NULL WHERE id = ANY(%s)", [[m.pk for m in written]]
        )
        # …and a value the trigger wrote meanwhile, which the batch must not replace with its own
        cursor.execute("UPDATE members_member SET owner_changed_at = %s WHERE id = %s", [T0, written[2].pk])
    never = member_with_unionid("u-never")
    monkeypatch.setattr(backfill, "BATCH", 1)  # a batch per member: every boundary crossed

    backfill.backfill(None, SimpleNamespace(connection=connection))

    assert [changed_at(m) for m in written] == [newest_change(written[0]), newest_change(written[1]), T0]
    assert changed_at(never) is None
