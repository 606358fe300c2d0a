"""Words for people (issue 23, items 1 and 7): Chinese whatever the browser asks, Chinese-style
dates in the brand's zone, money in yuan shown and typed, ledger references in words."""

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.urls import reverse

from crm.money import YuanField, yuan
from members.admin.loyalty import LoyaltyProgramForm
from members.ledger_words import reference_words
from members.merge_words import merge_moved_words
from members.models import Order, Reward, Tier
from tests.factories import MemberFactory, StaffFactory, StoreFactory
from tests.members.loyalty_scene import program, tiers


def test_yuan_reads_and_types_as_people_do():
    assert yuan(125800) == "¥1,258.00"
    assert yuan(-1200) == "-¥12.00"
    assert yuan(None) == "-"
    field = YuanField()
    assert field.clean("1,258.5") == 125850
    assert field.clean("¥1000") == 100000
    assert field.prepare_value(100000) == Decimal("1000.00")


def test_references_are_words():
    assert reference_words("redemption:admin-redeem:8988abcdef") == "后台兑换礼品"
    assert reference_words("order:42") == "订单 #42"
    assert reference_words("refund:7:points_cash") == "退款 #7 退回抵现积分"
    assert reference_words("something-else") == "something-else"


def test_back_office_is_chinese_for_an_english_browser(admin_client_a, in_brand_a):
    url = reverse("admin:members_tier_add")
    body = admin_client_a.get(url, headers={"Accept-Language": "en-US,en;q=0.9"}).content.decode()
    assert "保存" in body
    assert "Save and add another" not in body
    assert 'lang="zh-hans"' in body


def test_the_themes_own_words_are_chinese_too(client_a, admin_client_a, in_brand_a):
    """django-unfold ships no Chinese catalogue; locale/zh_Hans carries its strings."""
    english = {"headers": {"Accept-Language": "en-US,en;q=0.9"}}
    login = client_a.get("/admin/login/", **english).content.decode()
    listed = admin_client_a.get(reverse("admin:members_tier_changelist"), **english).content.decode()

    assert "欢迎登录" in login and "Welcome back" not in login and "Return to site" not in login
    assert "Search apps and models" not in listed and "搜索菜单" in listed


def test_tier_threshold_is_typed_and_listed_in_yuan(admin_client_a, in_brand_a):
    response = admin_client_a.post(
        reverse("admin:members_tier_add"),
        {
            "code": "gold",
            "name": "金卡",
            "rank": 9,
            "basis": "spend",
            "threshold": "1,000",
            "window_days": 365,
            "validity_days": 365,
            "points_multiplier_pct": 100,
            "member_day_multiplier_pct": 100,
            "birthday_bonus_points": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    connection.set_tenant(in_brand_a)
    assert Tier.objects.get(code="gold").threshold == 100000
    listing = admin_client_a.get(reverse("admin:members_tier_changelist")).content.decode()
    assert "¥1,000.00" in listing


def test_orders_list_in_yuan_and_brand_time(admin_client_a, in_brand_a):
    store = StoreFactory()
    member = MemberFactory(home_store=store)
    Order.objects.create(
        channel="store",
        order_no="POS-1",
        store=store,
        member=member,
        is_member_order=True,
        amount_fen=125800,
        paid_at=dt.datetime(2026, 11, 6, 23, 39, tzinfo=dt.UTC),
    )
    body = admin_client_a.get(reverse("admin:members_order_changelist")).content.decode()
    assert "¥1,258.00" in body
    assert "125800" not in body
    assert "2026-11-07 07:39" in body  # Asia/Shanghai, Chinese style


def test_point_value_is_typed_and_listed_in_yuan(admin_client_a, in_brand_a):
    """ "每积分价值（分） 1" read as a yuan a point to whoever did not know the unit."""
    loyalty = program(point_value_fen=1)
    page = admin_client_a.get(reverse("admin:members_loyaltyprogram_change", args=[loyalty.pk])).content.decode()
    assert "每积分价值（元）" in page and 'value="0.01"' in page and "（分）" not in page
    assert "¥0.01" in admin_client_a.get(reverse("admin:members_loyaltyprogram_changelist")).content.decode()

    form = LoyaltyProgramForm(data={"point_value_fen": "¥0.02"}, instance=loyalty)
    assert form.is_valid(), form.errors
    assert form.save().point_value_fen == 2
    assert not LoyaltyProgramForm(data={"point_value_fen": "-1"}, instance=loyalty).is_valid()


def test_tier_list_shows_names_not_codes(admin_client_a, in_brand_a):
    tiers()
    listing = admin_client_a.get(reverse("admin:members_tier_changelist")).content.decode()
    assert "银卡" in listing and ">silver<" not in listing and "silver" not in listing.split('id="result_list"')[1]


def test_reward_list_shows_names_not_codes_and_the_code_still_finds_it(admin_client_a, in_brand_a):
    Reward.objects.create(code="MUG-2027", name="马克杯", points_cost=300, stock=5)
    listing = admin_client_a.get(reverse("admin:members_reward_changelist")).content.decode()
    rows = listing.split('id="result_list"')[1]
    assert "马克杯" in rows and "MUG-2027" not in rows
    found = admin_client_a.get(reverse("admin:members_reward_changelist"), {"q": "MUG-2027"}).content.decode()
    assert "马克杯" in found.split('id="result_list"')[1]


def test_merge_record_says_what_moved_in_words(in_brand_a):
    tier_map = tiers()
    staff = StaffFactory(name="张导购")
    moved = {
        "identities": 2,
        "orders": 5,
        "points_net": 300,
        "lots": 3,
        "tier": tier_map["gold"].code,
        "tier_floor": tier_map["silver"].code,
        "assigned_staff": staff.pk,
        "tags": 1,
        "profile": ["birthday", "gender"],
    }
    assert merge_moved_words(moved) == (
        "身份标识 2 个、订单 5 笔、积分 +300、积分批次 3 个、等级升为金卡、保底等级银卡、"
        "专属导购张导购、标签 1 个、补全资料：生日、性别"
    )
    assert merge_moved_words({}) == "无"
