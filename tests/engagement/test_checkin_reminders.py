"""Check-in reminders by SMS (the brand's choice; WeCom in test_checkin_reminders_wecom.py): only to
members who switched them on, only through the contactable gates (SMS marketing consent, active, a
mobile), never to someone who already checked in today;
written once the brand's clock passes the reminder hour (brand time, not UTC or server time), once
per member and brand day, and sent through the registered SMS sender with the 退订 footer."""

import pytest

from engagement.models import CheckinReminder
from engagement.services.checkin import checkin_perform
from engagement.services.reminders import checkin_reminder_opt, checkin_reminders_due
from members.models import Member
from tests.consent.conftest import agreements_a, enrolled  # noqa: F401 - the consent scene's fixture
from tests.members.loyalty_scene import program

from .scene import at, clock, rules


def test_reminders_go_once_a_brand_day_to_opted_in_contactable_members_only(agreements_a, sms_sent):  # noqa: F811
    program()
    rules(checkin_reminder_enabled=True, checkin_reminder_hour=20, checkin_reminder_channel="sms")
    wants = enrolled(granted=["marketing_sms"])
    no_consent = enrolled(granted=[])
    enrolled(granted=["marketing_sms"])  # consented to SMS, never asked for reminders
    checked_in = enrolled(granted=["marketing_sms"])
    frozen = enrolled(granted=["marketing_sms"])
    for member in (wants, no_consent, checked_in, frozen):
        checkin_reminder_opt(member=member, on=True)
    Member.objects.filter(pk=frozen.pk).update(status=Member.Status.FROZEN)
    with clock("2028-02-29 19:59:59"):  # 11:59:59 UTC: before the brand's hour
        assert checkin_reminders_due()["queued"] == 0
        checkin_perform(member=checked_in)
    with clock("2028-02-29 20:00:00"):
        first = checkin_reminders_due()
        again = checkin_reminders_due()  # the next tick, the same brand day
    assert first == {"queued": 1, "skipped": 3, "sent": 1, "failed": 0}
    assert again == {"queued": 0, "skipped": 0, "sent": 0, "failed": 0}
    assert [m.mobile for m in sms_sent] == [wants.mobile]
    assert "签到" in sms_sent[0].body and "退订" in sms_sent[0].body
    assert dict(CheckinReminder.objects.values_list("member_id", "error")) == {
        wants.pk: "",
        no_consent.pk: "未授权该渠道",
        checked_in.pk: "今天已签到",
        frozen.pk: "已冻结",
    }
    assert list(CheckinReminder.objects.filter(status="sent").values_list("member_id", flat=True)) == [wants.pk]
    with clock("2028-03-01 00:30:00"):  # a new brand day, but before the hour
        assert checkin_reminders_due()["queued"] == 0
    with clock("2028-03-01 23:59:59"):  # the next day, the one who checked in yesterday is due too
        assert checkin_reminders_due()["queued"] == 2
    checkin_reminder_opt(member=wants, on=False)
    with clock("2028-03-02 21:00:00"):
        assert checkin_reminders_due()["queued"] == 1
    assert not CheckinReminder.objects.filter(member_id=wants.pk, biz_date="2028-03-02").exists()


def test_sms_reminders_wait_queued_while_no_provider_is_registered(agreements_a, sms_sent, monkeypatch):  # noqa: F811
    from engagement.services import reminders

    program()
    rules(checkin_reminder_enabled=True, checkin_reminder_hour=20, checkin_reminder_channel="sms")
    member = enrolled(granted=["marketing_sms"])
    checkin_reminder_opt(member=member, on=True)
    monkeypatch.setattr(reminders, "_sender", [])
    with clock("2028-02-29 20:30:00"):
        assert checkin_reminders_due()["note"] == "尚无短信发送通道，提醒保持待发送"
        assert reminders.checkin_reminders_send(day=at("2028-02-29 20:30:00").date()) == {"sent": 0, "failed": 0}
    assert CheckinReminder.objects.get().status == "queued" and sms_sent == []


def test_reminders_are_off_unless_the_brand_switches_them_on(agreements_a, sms_sent):  # noqa: F811
    program()
    rules(checkin_reminder_enabled=False)
    checkin_reminder_opt(member=enrolled(granted=["marketing_sms"]), on=True)
    with clock("2027-12-31 22:00:00"):
        assert checkin_reminders_due()["queued"] == 0
    assert sms_sent == []


def test_the_brand_admin_reads_who_was_reminded_and_why_not(agreements_a, sms_sent, admin_client_a):  # noqa: F811
    program()
    rules(checkin_reminder_enabled=True, checkin_reminder_hour=20, checkin_reminder_channel="sms")
    reminded = enrolled(granted=["marketing_sms"], name="王小明")
    refused = enrolled(granted=[], name="李小红")
    for member in (reminded, refused):
        checkin_reminder_opt(member=member, on=True)
    with clock("2028-02-29 20:02:00"):
        checkin_reminders_due()
    page = admin_client_a.get("/admin/engagement/checkinreminder/")
    text = page.content.decode()
    assert page.status_code == 200 and "签到提醒记录" in text
    assert "已发送" in text and "未发送" in text and "未授权该渠道" in text and "短信" in text
    assert reminded.member_no in text and refused.member_no in text
    assert (
        admin_client_a.get("/admin/engagement/checkinreminder/?status__exact=skipped")
        .content.decode()
        .count(refused.member_no)
        == 1
    )


def test_a_reminder_left_sending_by_a_dead_worker_fails_after_the_lease_and_is_never_sent_twice(
    agreements_a,  # noqa: F811
    sms_sent,
    monkeypatch,
):
    from engagement.services import reminders

    program()
    rules(checkin_reminder_enabled=True, checkin_reminder_hour=20, checkin_reminder_channel="sms")
    member = enrolled(granted=["marketing_sms"])
    checkin_reminder_opt(member=member, on=True)

    def worker_dies(_reminders):
        raise SystemExit("worker killed between the claim and the channel's answer")

    with clock("2028-02-29 20:00:00"), monkeypatch.context() as patched:
        patched.setattr(reminders, "_send_sms", worker_dies)
        with pytest.raises(SystemExit):
            checkin_reminders_due()
    assert CheckinReminder.objects.get().status == "sending"
    with clock("2028-02-29 20:14:59"):  # within the lease: its worker may still be sending
        assert checkin_reminders_due() == {"queued": 0, "skipped": 0, "sent": 0, "failed": 0}
    assert CheckinReminder.objects.get().status == "sending"
    with clock("2028-02-29 20:15:01"):
        assert checkin_reminders_due() == {"queued": 0, "skipped": 0, "interrupted": 1, "sent": 0, "failed": 0}
        assert checkin_reminders_due()["queued"] == 0  # the once-a-day row stands: not written again
    row = CheckinReminder.objects.get()
    assert (row.status, row.error) == ("failed", reminders.INTERRUPTED)
    assert sms_sent == []  # never sent again that day
    with clock("2028-03-01 20:00:00"):  # the next brand day is reminded as usual
        assert checkin_reminders_due()["sent"] == 1
    assert [m.mobile for m in sms_sent] == [member.mobile]
