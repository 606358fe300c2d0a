"""The member's own switches on engagement (issue 27): check-in reminders on/off on the check-in
page (only opted-in members are reminded, and only while consent finds them contactable), and 我的
生日 — set once by the member, then shown with how to correct it in store."""

import datetime as dt

import pytest

from consent.models import Purpose
from consent.services import consent_withdraw
from consent.types import ConsentEvidence
from engagement.models import BirthdayChange, CheckinReminder, CheckinReminderOptIn
from engagement.services.reminders import checkin_reminders_due
from membercentre.services.links import member_centre_link_path
from members.models import Member
from tests.engagement.scene import clock, rules
from tests.members.loyalty_scene import program

from .conftest import PHONE

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(member_a, client_a):
    program()
    rules(checkin_reminder_enabled=True, checkin_reminder_hour=20, checkin_reminder_channel="sms")
    client_a.get(member_centre_link_path(member_id=member_a.pk))
    return member_a, client_a


def _sign_in(client, member) -> None:
    # Under a moved clock the sign-in of the fixture has long expired: sign in "now".
    client.get(member_centre_link_path(member_id=member.pk))


def test_the_member_switches_check_in_reminders_on_and_off(signed_in):
    member, client = signed_in
    with clock("2027-03-08 10:00:00"):
        _sign_in(client, member)
        page = client.get("/m/checkin/", **PHONE).content.decode()
        assert "签到提醒" in page and "开启签到提醒" in page and "20:00" in page
        on = client.post("/m/checkin/", {"action": "reminder_on"}, **PHONE).content.decode()
        assert "已开启签到提醒。" in on and "关闭签到提醒" in on and "暂时收不到提醒" not in on
        assert CheckinReminderOptIn.objects.filter(member_id=member.pk).exists()
    with clock("2027-03-08 20:05:00"):
        checkin_reminders_due()
    assert CheckinReminder.objects.filter(member_id=member.pk).count() == 1
    with clock("2027-03-09 10:00:00"):
        _sign_in(client, member)
        off = client.post("/m/checkin/", {"action": "reminder_off"}, **PHONE).content.decode()
        assert "已关闭签到提醒" in off and "开启签到提醒" in off
    with clock("2027-03-09 20:05:00"):
        checkin_reminders_due()
    assert CheckinReminder.objects.filter(member_id=member.pk).count() == 1  # none on the 9th


def test_switched_on_without_sms_consent_the_page_says_no_reminder_will_come(signed_in):
    member, client = signed_in
    consent_withdraw(
        member_id=member.pk,
        purpose=Purpose.MARKETING_SMS,
        evidence=ConsentEvidence(channel="member_page"),
        actor="会员本人",
    )
    client.post("/m/checkin/", {"action": "reminder_on"}, **PHONE)
    page = client.get("/m/checkin/", **PHONE).content.decode()
    assert "暂时收不到提醒" in page and 'href="/m/me/preferences/"' in page
    with clock("2027-03-08 20:05:00"):
        checkin_reminders_due()
    # the switch is not consent: recorded as not sent, with the reason
    assert list(CheckinReminder.objects.values_list("status", "error")) == [("skipped", "未授权该渠道")]


def test_the_member_sets_the_birthday_once_on_the_member_centre(signed_in):
    member, client = signed_in
    Member.objects.filter(pk=member.pk).update(birthday=None)
    page = client.get("/m/birthday/", **PHONE).content.decode()
    assert 'type="date"' in page and "只能自己设置一次" in page
    bad = client.post("/m/birthday/", {"birthday": "not a date"}, **PHONE)
    assert bad.status_code == 400 and "请选择生日" in bad.content.decode()
    saved = client.post("/m/birthday/", {"birthday": "1990-05-01"}, **PHONE).content.decode()
    assert "生日已保存" in saved and "1990年5月1日" in saved and 'type="date"' not in saved
    again = client.post("/m/birthday/", {"birthday": "1990-06-01"}, **PHONE)
    assert again.status_code == 409 and "门店" in again.content.decode()
    assert Member.objects.get(pk=member.pk).birthday == dt.date(1990, 5, 1)
    assert BirthdayChange.objects.filter(member_id=member.pk).count() == 1
    assert 'href="/m/birthday/"' in client.get("/m/", **PHONE).content.decode()


def test_tier_progress_speaks_growth_value_when_the_next_tier_counts_it(signed_in):
    from engagement.models import GrowthEntry
    from tests.factories import TierFactory

    member, client = signed_in
    TierFactory.create(code="black", name="黑金", rank=5, threshold=100, basis="growth")
    GrowthEntry.objects.create(
        member_id=member.pk, kind="checkin", value=40, balance_after=40, reason="签到", reference="c1", activity=True
    )
    home = client.get("/m/", **PHONE).content.decode()
    assert "再获得 60 成长值升级为黑金" in home and "再消费" not in home
