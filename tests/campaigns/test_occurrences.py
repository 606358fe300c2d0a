"""An occurrence runs exactly once in effect: a second trigger, a retry or a crash half-way leave
the same result as one clean run. The audience snapshot is one set-based statement."""

import datetime as dt
import threading
from typing import cast
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Occurrence, Recipient
from campaigns.services import campaign_publish, occurrence_for_trigger, occurrence_run
from crm.db import connection
from crm.db.backend.base import DatabaseWrapper
from crm.tenancy.models import DueSlot
from members.models import Member
from tests.factories import MemberFactory, StoreFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
GRACE = dt.timedelta(hours=6)


def just_after_slot() -> dt.datetime:
    """A moment 5 minutes after the 8th of next month, 10:00 Shanghai."""
    today = timezone.localdate()
    first_of_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return dt.datetime.combine(first_of_next.replace(day=8), dt.time(10, 5), tzinfo=SHANGHAI)


@pytest.mark.django_db
class TestTriggers:
    def test_two_triggers_make_one_occurrence_and_one_snapshot(self, in_brand_a, make_campaign):
        members = MemberFactory.create_batch(5)
        campaign = make_campaign()
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        now = just_after_slot()

        first = occurrence_for_trigger(campaign_id=campaign.pk, now=now, grace=GRACE)
        assert occurrence_run(occurrence_id=first.pk) == "done"
        second = occurrence_for_trigger(campaign_id=campaign.pk, now=now + dt.timedelta(minutes=1), grace=GRACE)
        assert occurrence_run(occurrence_id=second.pk) == "already_done"

        assert first.pk == second.pk
        occurrence = Occurrence.objects.get(campaign=campaign)
        assert occurrence.trigger_count == 2
        assert occurrence.slot == dt.datetime.combine(now.date(), dt.time(10), tzinfo=SHANGHAI)
        assert occurrence.status == Occurrence.Status.DONE
        assert set(Recipient.objects.filter(occurrence=occurrence).values_list("member_id", flat=True)) == {
            member.pk for member in members
        }

    def test_a_trigger_outside_the_grace_period_or_before_any_slot_does_nothing(self, in_brand_a, make_campaign):
        campaign = make_campaign(start_date=timezone.localdate() + dt.timedelta(days=1))
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

        late = just_after_slot() + GRACE
        assert occurrence_for_trigger(campaign_id=campaign.pk, now=late, grace=GRACE) is None
        before_start = timezone.now()
        assert occurrence_for_trigger(campaign_id=campaign.pk, now=before_start, grace=GRACE) is None
        assert not Occurrence.objects.filter(campaign=campaign).exists()

    def test_a_paused_campaign_is_not_run(self, in_brand_a, make_campaign):
        campaign = make_campaign()
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        services.campaign_pause(campaign_id=campaign.pk)

        assert occurrence_for_trigger(campaign_id=campaign.pk, now=just_after_slot(), grace=GRACE) is None

    def test_snapshot_excludes_frozen_erased_and_merged_and_applies_filters(self, in_brand_a, make_campaign):
        shanghai, hangzhou = StoreFactory(code="SH1"), StoreFactory(code="HZ1")
        active = MemberFactory(home_store=shanghai)
        MemberFactory(home_store=hangzhou)  # filtered out by store
        MemberFactory(home_store=shanghai, status=Member.Status.FROZEN)
        MemberFactory(home_store=shanghai, status=Member.Status.ERASED)
        MemberFactory(home_store=shanghai, merged_into=active)
        campaign = make_campaign()
        campaign.stores.add(shanghai)
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)

        occurrence = occurrence_for_trigger(campaign_id=campaign.pk, now=just_after_slot(), grace=GRACE)
        occurrence_run(occurrence_id=occurrence.pk)

        assert list(Recipient.objects.filter(occurrence=occurrence).values_list("member_id", flat=True)) == [active.pk]

    def test_holdout_is_stable_and_roughly_the_share_asked_for(self, in_brand_a, make_campaign):
        MemberFactory.create_batch(400)
        campaign = make_campaign(holdout_pct=25)
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        occurrence = occurrence_for_trigger(campaign_id=campaign.pk, now=just_after_slot(), grace=GRACE)

        occurrence_run(occurrence_id=occurrence.pk)
        holdout = set(Recipient.objects.filter(occurrence=occurrence, holdout=True).values_list("member_id", flat=True))
        # Re-running the snapshot (as a resumed run would) picks exactly the same hold-out.
        services._step_snapshot(occurrence)

        assert 60 <= len(holdout) <= 140
        assert holdout == set(
            Recipient.objects.filter(occurrence=occurrence, holdout=True).values_list("member_id", flat=True)
        )

    def test_a_crash_after_a_step_resumes_without_redoing_it(self, in_brand_a, make_campaign, monkeypatch):
        MemberFactory.create_batch(3)
        campaign = make_campaign()
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        occurrence = occurrence_for_trigger(campaign_id=campaign.pk, now=just_after_slot(), grace=GRACE)
        calls: list[str] = []

        def crashing_step(occ):
            calls.append("crash")
            raise RuntimeError("worker killed")

        def counting_snapshot(occ, id_range=None):
            calls.append("snapshot")
            return services._step_snapshot(occ, id_range)

        monkeypatch.setattr(services, "RUN_STEPS", [("snapshot", counting_snapshot), ("next", crashing_step)])
        with pytest.raises(RuntimeError):
            occurrence_run(occurrence_id=occurrence.pk)
        occurrence.refresh_from_db()
        assert occurrence.status == Occurrence.Status.FAILED and occurrence.steps_done == ["snapshot"]

        monkeypatch.setattr(services, "RUN_STEPS", [("snapshot", counting_snapshot), ("next", lambda occ: {})])
        assert occurrence_run(occurrence_id=occurrence.pk) == "done"

        assert calls == ["snapshot", "crash"]  # the snapshot did not run again
        assert Recipient.objects.filter(occurrence=occurrence).count() == 3


def test_concurrent_triggers_create_one_occurrence(committed_db, brand_a_committed):
    connection.set_tenant(brand_a_committed)
    campaign = Campaign.objects.create(name="并发测试", frequency="monthly", day_of_month=8, bonus_points=5)
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    connection.set_schema_to_public()
    now = just_after_slot()
    results: list[object] = []

    def trigger() -> None:
        from django.db import connections

        cast(DatabaseWrapper, connections["default"]).set_tenant(brand_a_committed)
        try:
            occurrence = occurrence_for_trigger(campaign_id=campaign.pk, now=now, grace=GRACE)
            assert occurrence is not None
            results.append(occurrence_run(occurrence_id=occurrence.pk))
        except Exception as exc:  # collected and asserted below
            results.append(exc)
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=trigger) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    connection.set_tenant(brand_a_committed)
    try:
        assert all(isinstance(result, str) for result in results), results
        assert results.count("done") == 1
        occurrences = Occurrence.objects.filter(campaign=campaign)
        assert occurrences.count() == 1 and occurrences.get().trigger_count == 6
    finally:
        Recipient.objects.filter(occurrence__campaign=campaign).delete()
        Occurrence.objects.filter(campaign=campaign).delete()
        services.campaign_end(campaign_id=campaign.pk)
        campaign.delete()
        connection.set_schema_to_public()


@pytest.fixture
def brand_a_committed(committed_db):
    from crm.tenancy.models import Brand

    return Brand.objects.get(schema_name="alpha")


def due_slot(campaign: Campaign) -> DueSlot:
    return DueSlot.objects.get(schema_name=connection.schema_name, task=services.SLOT_TASK, key=campaign.pk)


def fire(campaign: Campaign, *, now: dt.datetime | None = None) -> Occurrence | None:
    """What the dispatcher's message does in the brand: fire the slot the row holds."""
    return services.campaign_slot_fire(
        campaign_id=campaign.pk, due_at=due_slot(campaign).due_at, now=now or timezone.now(), grace=GRACE
    )


@pytest.mark.django_db
def test_a_slot_missed_before_publishing_is_due_at_once_and_runs_once(in_brand_a, pump_inline):
    MemberFactory.create_batch(2)
    slot_time = (timezone.localtime() - dt.timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    campaign = Campaign.objects.create(name="补跑测试", frequency="daily", time_of_day=slot_time, bonus_points=1)
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    slot = timezone.localtime().replace(hour=slot_time.hour, minute=slot_time.minute, second=0, microsecond=0)
    if slot > timezone.localtime():  # just after midnight: the slot was yesterday's
        slot -= dt.timedelta(days=1)
    assert due_slot(campaign).due_at == slot

    occurrence = fire(campaign)
    assert occurrence is not None and occurrence.slot == slot
    assert due_slot(campaign).due_at == slot + dt.timedelta(days=1)  # moved on to tomorrow's slot
    assert pump_inline() == 1  # a small run: every step in one chunk (RUN_CHUNK member ids)

    occurrence.refresh_from_db()
    assert occurrence.status == Occurrence.Status.DONE
    assert occurrence.steps_done == ["snapshot", "awards", "rewards", "coupons", "messages"]
    assert Recipient.objects.filter(occurrence=occurrence).count() == 2
    # The old trigger (a message queued before due slots) finds the slot's occurrence: nothing new.
    assert services.campaign_slot_fire(campaign_id=campaign.pk, due_at=None, now=timezone.now(), grace=GRACE) is None
    assert pump_inline() == 0
    assert Occurrence.objects.filter(campaign=campaign).count() == 1


@pytest.mark.django_db
def test_a_stale_slot_message_changes_nothing(in_brand_a, make_campaign, pump_inline):
    campaign = make_campaign()
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    sent_for = due_slot(campaign).due_at
    services.campaign_pause(campaign_id=campaign.pk)

    assert services.campaign_slot_fire(campaign_id=campaign.pk, due_at=sent_for, now=sent_for, grace=GRACE) is None
    assert not DueSlot.objects.filter(key=campaign.pk).exists()
    assert not Occurrence.objects.exists()

    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)  # rescheduled: a new row
    stale = sent_for - dt.timedelta(days=31)
    assert services.campaign_slot_fire(campaign_id=campaign.pk, due_at=stale, now=sent_for, grace=GRACE) is None
    assert due_slot(campaign).due_at == sent_for
    assert pump_inline() == 0 and not Occurrence.objects.exists()


@pytest.mark.django_db
def test_a_slot_claimed_beyond_the_grace_period_is_skipped_to_the_next(in_brand_a, make_campaign):
    campaign = make_campaign()
    with time_machine.travel(dt.datetime(2027, 3, 2, 9, 0, tzinfo=SHANGHAI), tick=False):
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    # The dispatcher was down from the 8th 10:00 until the 8th 17:00: seven hours, past the grace.
    assert fire(campaign, now=dt.datetime(2027, 3, 8, 17, 0, tzinfo=SHANGHAI)) is None
    assert not Occurrence.objects.exists()
    assert due_slot(campaign).due_at == dt.datetime(2027, 4, 8, 10, 0, tzinfo=SHANGHAI)


@pytest.mark.django_db
def test_a_one_off_slot_runs_and_then_has_no_slot(in_brand_a, make_campaign, pump_inline):
    run_at = dt.datetime(2027, 3, 8, 20, 0, tzinfo=SHANGHAI)
    campaign = make_campaign(frequency=Campaign.Frequency.ONCE, run_at=run_at, day_of_month=None)
    with time_machine.travel(dt.datetime(2027, 3, 2, 9, 0, tzinfo=SHANGHAI), tick=False):
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    assert due_slot(campaign).due_at == run_at
    with time_machine.travel(run_at + dt.timedelta(seconds=3), tick=False):
        assert fire(campaign) is not None
        assert not DueSlot.objects.filter(key=campaign.pk).exists()
        pump_inline()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED


@pytest.mark.django_db
def test_one_failing_campaign_does_not_stop_the_others_and_is_run_again_by_the_catch_up(
    in_brand_a, monkeypatch, pump_inline
):
    from campaigns.tasks import catch_up

    slot_time = (timezone.localtime() - dt.timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    broken, healthy = (
        Campaign.objects.create(name=name, frequency="daily", time_of_day=slot_time, bonus_points=1)
        for name in ("坏活动", "好活动")
    )
    for campaign in (broken, healthy):
        campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
        fire(campaign)
    real_snapshot = services._step_snapshot
    failing = True

    def snapshot(occurrence):
        if occurrence.campaign_id == broken.pk and failing:
            raise RuntimeError("template broken")
        return real_snapshot(occurrence)

    monkeypatch.setattr(services, "RUN_STEPS", [("snapshot", snapshot)])

    with pytest.raises(RuntimeError):
        pump_inline()  # the broken one's chunk raises (celery logs it) ...
    pump_inline()  # ... and the pump goes on with the next
    assert Occurrence.objects.get(campaign=broken).status == Occurrence.Status.FAILED
    assert Occurrence.objects.get(campaign=healthy).status == Occurrence.Status.DONE

    failing = False  # fixed: the catch-up starts it again
    assert catch_up() == 1
    assert catch_up() == 0  # its chunk is waiting: not twice
    pump_inline()
    assert Occurrence.objects.get(campaign=broken).status == Occurrence.Status.DONE


@pytest.mark.django_db
def test_an_edit_loaded_before_an_end_does_not_revive_the_campaign(in_brand_a):
    campaign = Campaign.objects.create(name="编辑冲突", frequency="monthly", day_of_month=8, bonus_points=5)
    campaign_publish(campaign_id=campaign.pk, confirm_empty_audience=True)
    stale_form_copy = Campaign.objects.get(pk=campaign.pk)  # the admin loaded the page
    services.campaign_end(campaign_id=campaign.pk)  # someone ends it meanwhile

    stale_form_copy.name = "编辑冲突（改名）"
    services.campaign_save(campaign=stale_form_copy)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ENDED and campaign.name == "编辑冲突（改名）"
    assert not DueSlot.objects.filter(key=campaign.pk).exists()
