"""每日签到 on the member centre (issue 25): the tile opens the member's calendar; checking in,
making up a day within engagement's rules (window, cycle, cap, cost), the streak and the ladder,
each refusal in Chinese and changing nothing."""

import re

import pytest

from engagement.models import Checkin
from membercentre.services.links import member_centre_link_path
from members.models import PointsEntry
from members.services.points import points_award_bonus
from tests.engagement.scene import POINTS, clock, ladder, rules
from tests.members.loyalty_scene import program

from .conftest import PHONE

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(member_a, client_a):
    program()
    rules()
    ladder((3, POINTS, 30), (7, POINTS, 100))
    return member_a, client_a


def test_the_tile_opens_the_calendar_and_checking_in_counts_once(signed_in):
    member, client = signed_in
    with clock("2027-03-10 09:00:00"):
        client.get(member_centre_link_path(member_id=member.pk))
        home = client.get("/m/").content.decode()
        assert 'href="/m/checkin/"' in home and "今日未签到" in home

        page = client.get("/m/checkin/").content.decode()
        assert "2027 年 3 月" in page and "立即签到" in page and "连续签到 3 天：30 积分" in page

        done = client.post("/m/checkin/", {"action": "checkin"}, **PHONE).content.decode()
        assert "签到成功，获得 5 积分" in done and "今日已签到" in done
        again = client.post("/m/checkin/", {"action": "checkin"}, **PHONE).content.decode()
        assert "今天已经签到过了" in again
        assert Checkin.objects.filter(member_id=member.pk).count() == 1
        assert "今日已签到" in client.get("/m/").content.decode()


def test_making_up_a_day_costs_points_and_restores_the_streak_and_the_ladder(signed_in):
    member, client = signed_in
    points_award_bonus(member=member, points=50, reference="seed", reason="初始积分")
    with clock("2027-03-08 09:00:00"):
        client.get(member_centre_link_path(member_id=member.pk))
        client.post("/m/checkin/", {"action": "checkin"})
    with clock("2027-03-10 09:00:00"):
        client.get(member_centre_link_path(member_id=member.pk))
        client.post("/m/checkin/", {"action": "checkin"})
        page = client.get("/m/checkin/").content.decode()
        assert 'aria-label="补签 3月9日"' in page and "还可补签 2 次，每次消耗 20 积分" in page

        made = client.post("/m/checkin/", {"action": "makeup", "date": "2027-03-09"}, **PHONE).content.decode()
        assert "已补签 3 月 9 日，消耗 20 积分" in made
        assert re.search(r"已连续签到</span><strong class=\"big\">3 天", made)
        assert "还可补签 1 次" in made and "已领取" in made  # the 3-day step, claimed by the restored run
        assert PointsEntry.objects.filter(member=member, points=-20).exists()


def test_a_make_up_outside_the_window_is_refused_in_chinese_and_changes_nothing(signed_in):
    member, client = signed_in
    points_award_bonus(member=member, points=50, reference="seed", reason="初始积分")
    with clock("2027-03-10 09:00:00"):
        client.get(member_centre_link_path(member_id=member.pk))
        refused = client.post("/m/checkin/", {"action": "makeup", "date": "2027-03-01"}, **PHONE)
        assert refused.status_code == 400 and "只能补签最近 3 天内" in refused.content.decode()
        future = client.post("/m/checkin/", {"action": "makeup", "date": "2027-03-11"}, **PHONE)
        assert future.status_code == 400
        assert not Checkin.objects.filter(member_id=member.pk).exists()
        assert not PointsEntry.objects.filter(member=member, points__lt=0).exists()


def test_the_calendar_needs_a_sign_in_and_shows_only_the_last_year(signed_in):
    member, client = signed_in
    assert client.get("/m/checkin/")["Location"].startswith("/m/login/")
    with clock("2027-03-10 09:00:00"):
        client.get(member_centre_link_path(member_id=member.pk))
        assert "2027 年 2 月" in client.get("/m/checkin/?month=2027-02").content.decode()
        assert "2027 年 3 月" in client.get("/m/checkin/?month=2020-01").content.decode()
        assert "2027 年 3 月" in client.get("/m/checkin/?month=junk").content.decode()
