"""Expiry reminders: members whose unused coupons end within the brand's N days (brand days, brand
time) hear once per (template, end day), by SMS, only with SMS marketing consent and a mobile
(members_contactable), from the brand's reminder hour; a rerun or a retry sends nothing twice,
and consent withdrawn before sending stops the message."""

import datetime as dt

import pytest

from campaigns.sms import LoggingSmsProvider
from consent.models import Purpose
from consent.services import consent_withdraw
from consent.types import ConsentEvidence
from coupons.models import CouponReminder
from coupons.reminders import coupon_reminders_send, coupon_reminders_write
from coupons.services import coupon_issue, coupon_void
from members.services.members import member_enroll
from tests.clock import SHANGHAI
from tests.members.conftest import decisions_for, membership_version_ensure

from .scene import NOW, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]


@pytest.fixture
def sent():
    LoggingSmsProvider.sent.clear()
    yield LoggingSmsProvider.sent
    LoggingSmsProvider.sent.clear()


def _member(name: str, mobile: str, *, sms: bool):
    version = membership_version_ensure()
    return member_enroll(
        name=name,
        mobile=mobile,
        decisions=decisions_for(version, marketing_sms=sms),
        evidence=ConsentEvidence(channel="member_page"),
        actor="seed",
    )


def _give(tpl, member, key: str = "k"):
    return coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key=key, actor="seed")


@pytest.fixture
def scene(in_brand_a):
    """Today is 15 June (brand time); with 3 days' notice, coupons ending by 18 June 23:59:59."""
    ends_18 = template(name="618券", valid_until_date=dt.date(2027, 6, 18), generic_code="A618")
    ends_19 = template(name="619券", valid_until_date=dt.date(2027, 6, 19), generic_code="A619")
    opted_in = _member("林一", "13900000001", sms=True)
    opted_out = _member("林二", "13900000002", sms=False)
    used_up = _member("林三", "13900000003", sms=True)
    for key in ("a", "b"):  # two coupons of one template ending the same day: one message
        _give(ends_18, opted_in, key)
    _give(ends_19, opted_in)  # ends the day after the window
    _give(ends_18, opted_out)
    coupon_void(coupon_id=_give(ends_18, used_up).pk, reason="测试", actor="seed")
    return {"opted_in": opted_in, "opted_out": opted_out, "ends_18": ends_18}


def test_only_opted_in_members_hear_once_per_template_and_end_day_from_the_brands_hour(scene, sent):
    early = NOW.replace(hour=9, minute=59)
    assert coupon_reminders_write(now=early) == {"written": 0, "before_hour": 1}

    assert coupon_reminders_write(now=NOW) == {"written": 1}
    reminder = CouponReminder.objects.get()
    assert (reminder.member_id, reminder.template_id, reminder.expires_on, reminder.coupons) == (
        scene["opted_in"].pk,
        scene["ends_18"].pk,
        dt.date(2027, 6, 18),
        2,
    )
    assert reminder.body == "您有 2 张「618券」将于 2027-06-18 到期，请及时使用。"

    assert coupon_reminders_send()["sent"] == 1
    assert len(sent) == 1
    assert sent[0].mobile.endswith("13900000001") and "回T退订" in sent[0].body
    # A rerun later that day, the next hourly run and a retried send: nothing twice.
    assert coupon_reminders_write(now=NOW + dt.timedelta(hours=1)) == {"written": 0}
    assert coupon_reminders_send() == {"sent": 0, "skipped": 0, "failed": 0, "queued_left": 0}
    assert len(sent) == 1
    reminder.refresh_from_db()
    assert reminder.status == "sent" and reminder.sent_at == NOW


def test_the_window_is_in_brand_days_and_the_next_day_brings_the_next_reminder(scene, sent):
    tomorrow = dt.datetime(2027, 6, 16, 10, 0, tzinfo=SHANGHAI)
    coupon_reminders_write(now=NOW)
    assert coupon_reminders_write(now=tomorrow) == {"written": 1}  # 619券 comes into the window
    assert sorted(CouponReminder.objects.values_list("expires_on", flat=True)) == [
        dt.date(2027, 6, 18),
        dt.date(2027, 6, 19),
    ]


def test_consent_withdrawn_before_sending_stops_the_message(scene, sent):
    coupon_reminders_write(now=NOW)
    consent_withdraw(
        member_id=scene["opted_in"].pk,
        purpose=Purpose.MARKETING_SMS,
        evidence=ConsentEvidence(channel="member_page"),
        actor="member",
    )
    assert coupon_reminders_send()["skipped"] == 1
    assert sent == []
    assert CouponReminder.objects.get().status == "skipped"


def test_no_reminders_when_the_brand_turns_them_off(scene, sent):
    from coupons.manual_issue import coupon_settings_get

    settings = coupon_settings_get()
    settings.reminder_days = None
    settings.save()
    assert coupon_reminders_write(now=NOW) == {"written": 0, "off": 1}
