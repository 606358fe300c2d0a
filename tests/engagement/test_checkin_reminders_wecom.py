"""Check-in reminders through WeCom, as campaign messages go: a group message through each
member's own staff, to the fake WeCom server over real HTTP. Only opted-in members the contactable
gates let through (WeCom marketing consent, active, an active staff member on WeCom and a WeCom
relation) and who have not checked in that brand day; every opted-in member gets a row saying
reminded or why not; once per member per brand day, whether the job runs twice or in parallel;
at the brand's hour in brand time (fixed clocks across 23:59 → 00:00 and the year end).

These tests commit (consent records cannot be deleted): a brand of their own, dropped afterwards."""

import datetime as dt
import threading

import pytest
from django.db import connections

from consent.models import Purpose
from consent.services import consent_withdraw
from consent.types import ConsentEvidence
from crm.db import connection
from engagement.models import CheckinReminder
from engagement.services import reminders
from engagement.services.checkin import checkin_perform
from engagement.services.reminders import checkin_reminder_opt, checkin_reminders_due
from members.models import Identity, Member
from tests.campaigns.scenes import consenting_member, marketing_agreement_publish
from tests.factories import StaffFactory
from tests.members.loyalty_scene import program
from tests.wecom.conftest import committed_brand, fake, fake_server, secret_a, wecom_brand  # noqa: F401
from wecom.fake.server import FakeWecom

from .scene import clock, rules


@pytest.fixture
def reminder_brand(wecom_brand):  # noqa: F811
    program()
    marketing_agreement_publish()
    rules(checkin_reminder_enabled=True, checkin_reminder_hour=23, checkin_reminder_channel="wecom")
    return wecom_brand


def on_wecom(fake: FakeWecom, ext: str, *purposes: str, staff=None, relation: bool = True, opt: bool = True) -> Member:  # noqa: F811
    member = consenting_member(*(purposes or ("marketing_wecom",)), assigned_staff=staff)
    if relation:
        Identity.objects.create(member=member, kind="wecom_external_userid", value=ext)
        fake.add_contact(ext)
        if staff is not None:
            fake.add_follow(staff.wecom_userid, ext)
    if opt:
        checkin_reminder_opt(member=member, on=True)
    return member


def sent_to(fake: FakeWecom) -> list[tuple[str, str]]:  # noqa: F811
    return sorted((m.sender, ext) for m in fake.messages.values() for ext in m.external_userids)


def record(day: str) -> dict[int, tuple[str, str]]:
    rows = CheckinReminder.objects.filter(biz_date=day)
    return {r.member_id: (r.status, r.error) for r in rows}


def test_wecom_reminders_reach_only_opted_in_contactable_members_once_a_brand_day(reminder_brand, fake):  # noqa: F811
    staff = StaffFactory(wecom_userid="zhangsan")
    wants = on_wecom(fake, "wmWants", staff=staff)
    late = on_wecom(fake, "wmLate", staff=staff)  # checks in at 23:59:59, then at 00:00:00
    sms_only = on_wecom(fake, "wmSms", "marketing_sms", staff=staff)
    no_staff = on_wecom(fake, "wmNoStaff")
    no_relation = on_wecom(fake, "wmNone", staff=staff, relation=False)
    frozen = on_wecom(fake, "wmFrozen", staff=staff)
    on_wecom(fake, "wmQuiet", staff=staff, opt=False)  # reachable, never asked for reminders
    Member.objects.filter(pk=frozen.pk).update(status=Member.Status.FROZEN)

    with clock("2027-12-31 22:59:59"):  # 14:59:59 UTC: before the brand's hour, nothing written
        assert checkin_reminders_due()["queued"] == 0
        assert not CheckinReminder.objects.exists()
    with clock("2027-12-31 23:00:00"):
        first = checkin_reminders_due()
    with clock("2027-12-31 23:59:59"):
        checkin_perform(member=late)  # already reminded: the check-in changes nothing sent
        again = checkin_reminders_due()  # the next tick, the same brand day
    assert first == {"queued": 2, "skipped": 4, "sent": 2, "failed": 0}
    assert again == {"queued": 0, "skipped": 0, "sent": 0, "failed": 0}
    assert sent_to(fake) == [("zhangsan", "wmLate"), ("zhangsan", "wmWants")]
    (message,) = fake.messages.values()
    assert "还没有签到" in message.text and "退订" in message.text
    assert record("2027-12-31") == {
        wants.pk: ("sent", ""),
        late.pk: ("sent", ""),
        sms_only.pk: ("skipped", "未授权该渠道"),
        no_staff.pk: ("skipped", "无企业微信专属导购"),
        no_relation.pk: ("skipped", "未添加企业微信好友"),
        frozen.pk: ("skipped", "已冻结"),
    }
    assert CheckinReminder.objects.get(member=wants).provider_msgid == message.msgid
    # A member not reminded keeps no address on the record (personal data without a use).
    assert set(CheckinReminder.objects.filter(status="skipped").values_list("address", flat=True)) == {""}

    with clock("2028-01-01 00:00:00"):  # a new brand day (and year), before the hour
        checkin_perform(member=late)  # today's check-in, one second after yesterday's
        assert checkin_reminders_due()["queued"] == 0
    with clock("2028-01-01 23:00:00"):
        assert checkin_reminders_due()["sent"] == 1
    assert sent_to(fake) == [("zhangsan", "wmLate"), ("zhangsan", "wmWants"), ("zhangsan", "wmWants")]
    assert record("2028-01-01")[late.pk] == ("skipped", "今天已签到")
    assert record("2028-01-01")[wants.pk] == ("sent", "")


def test_consent_withdrawn_between_writing_and_sending_is_skipped_with_the_reason(
    reminder_brand,
    fake,  # noqa: F811
    monkeypatch,
):
    staff = StaffFactory(wecom_userid="zhangsan")
    member = on_wecom(fake, "wmGone", staff=staff)
    with clock("2028-02-29 23:10:00"):
        with monkeypatch.context() as patched:  # the tick writes; its send is held back
            patched.setattr(reminders, "checkin_reminders_send", lambda *, day: {"sent": 0, "failed": 0})
            assert checkin_reminders_due()["queued"] == 1
        consent_withdraw(
            member_id=member.pk,
            purpose=Purpose.MARKETING_WECOM,
            evidence=ConsentEvidence(channel="member_page"),
            actor="会员本人",
        )
        assert reminders.checkin_reminders_send(day=dt.date(2028, 2, 29)) == {"sent": 0, "failed": 0}
    assert record("2028-02-29") == {member.pk: ("skipped", "未授权该渠道")}
    assert fake.messages == {}


def test_the_job_run_in_parallel_reminds_each_member_once(reminder_brand, fake):  # noqa: F811
    staff = StaffFactory(wecom_userid="zhangsan")
    other = StaffFactory(wecom_userid="lisi")
    members = [on_wecom(fake, f"wm{n:03d}", staff=staff if n % 2 else other) for n in range(40)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            connection.set_tenant(reminder_brand)
            barrier.wait()
            checkin_reminders_due()
        except BaseException as exc:  # asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    with clock("2028-03-31 23:30:00"):
        threads = [threading.Thread(target=tick) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors
    sent = sent_to(fake)
    assert len(sent) == len(set(sent)) == len(members)  # nobody twice
    assert CheckinReminder.objects.filter(status="sent").count() == len(members)
