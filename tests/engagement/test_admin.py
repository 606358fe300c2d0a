"""The engagement settings pages on the brand admin: brand admins set the rules, the ladder and the
birthday benefits; a coupon reward is refused in Chinese until a coupon issuer registers."""

import datetime as dt

import time_machine

from engagement.models import CheckinLadderStep, EngagementSettings
from engagement.rewards import coupon_issuer_register, coupon_issuer_unregister
from tests.coupons.scene import template


def test_brand_admin_sets_the_rules_and_the_ladder(admin_client_a, in_brand_a, without_coupon_issuer):
    settings_page = admin_client_a.get("/admin/engagement/engagementsettings/add/")
    assert settings_page.status_code == 200
    assert "签到周期" in settings_page.content.decode()
    response = admin_client_a.post(
        "/admin/engagement/engagementsettings/add/",
        {
            "checkin_enabled": "on",
            "checkin_cycle": "rolling",
            "checkin_cycle_days": "7",
            "checkin_daily_points": "3",
            "checkin_daily_growth": "1",
            "makeup_window_days": "3",
            "makeup_cost_points": "10",
            "makeup_cap_per_cycle": "2",
            "checkin_reminder_hour": "20",
            "checkin_reminder_channel": "wecom",
            "growth_per_yuan": "1",
            "growth_activity_cap_per_month": "50",
            "birthday_feb29": "mar1",
            "birthday_change_guard_days": "30",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert EngagementSettings.objects.get().checkin_cycle == "rolling"
    ok = admin_client_a.post(
        "/admin/engagement/checkinladderstep/add/",
        {"days": "3", "reward_kind": "points", "amount": "20", "active": "on"},
    )
    assert ok.status_code == 302
    refused = admin_client_a.post(
        "/admin/engagement/checkinladderstep/add/",
        {"days": "7", "reward_kind": "coupon", "amount": "1", "coupon_template": "C100", "active": "on"},
    )
    assert refused.status_code == 200
    assert "优惠券功能尚未启用" in refused.content.decode()
    assert list(CheckinLadderStep.objects.values_list("days", flat=True)) == [3]

    coupon_issuer_register(lambda **kwargs: "券")
    try:
        unknown = admin_client_a.post(
            "/admin/engagement/checkinladderstep/add/",
            {"days": "7", "reward_kind": "coupon", "amount": "1", "coupon_template": "C100", "active": "on"},
        )
        assert unknown.status_code == 200 and "请填写已有的优惠券模板编号" in unknown.content.decode()
        with time_machine.travel(dt.datetime(2027, 6, 1, tzinfo=dt.UTC), tick=False):
            tpl = template()
        accepted = admin_client_a.post(
            "/admin/engagement/checkinladderstep/add/",
            {"days": "7", "reward_kind": "coupon", "amount": "1", "coupon_template": str(tpl.pk), "active": "on"},
        )
    finally:
        coupon_issuer_unregister()
    assert accepted.status_code == 302
