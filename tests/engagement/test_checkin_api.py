"""The check-in partner API: check in (201, then 200 for the same day), make up a day, read the
calendar; errors as problem+json in both languages; nothing of one brand from another's key."""

import json

import pytest
from django_tenants.utils import schema_context

from members.services.points import points_award_bonus
from tests.api.conftest import assert_problem, call, make_key
from tests.factories import MemberFactory
from tests.members.loyalty_scene import program

from .scene import clock, rules


@pytest.fixture
def scene(brand_a, brand_b):
    with schema_context(brand_a.schema_name):
        program()
        rules()
        member = MemberFactory()
        points_award_bonus(member=member, points=100, reference="seed", reason="初始积分")
    return member


def test_check_in_then_again_the_same_day_then_the_calendar(scene, client_a, brand_a):
    key = make_key(brand_a.schema_name)
    path = f"/api/v1/members/{scene.member_no}/checkins"
    with clock("2027-01-31 23:59:59"):
        first = call(client_a, "POST", path, key=key, body={"channel": "miniapp"})
        again = call(client_a, "POST", path, key=key, body={})
    assert first.status_code == 201, first.content
    assert again.status_code == 200
    body = json.loads(first.content)
    assert body["date"] == "2027-01-31" and body["streak"] == 1 and body["created"] is True
    assert body["rewards"][0]["label"] == "签到奖励（2027-01-31）：5 积分"
    assert json.loads(again.content)["created"] is False
    with clock("2027-02-01 00:00:05"):
        calendar = call(client_a, "GET", path + "?month=2027-01", key=key)
        made = call(client_a, "POST", path + "/makeups", key=key, body={"date": "2027-01-30"})
    assert calendar.status_code == 200
    days = json.loads(calendar.content)["days"]
    assert len(days) == 31 and days[30]["checked_in"] and not days[29]["checked_in"]
    assert json.loads(calendar.content)["growth"] == 1
    # 1 Feb: the month cycle began today, so 30 Jan is another cycle
    assert_problem(made, 400, "checkin_makeup_refused")


def test_errors_are_problems_in_both_languages(scene, client_a, client_b, brand_a, brand_b):
    key = make_key(brand_a.schema_name)
    path = f"/api/v1/members/{scene.member_no}/checkins"
    with clock("2027-03-08 10:03:00"):
        bad = call(client_a, "POST", path + "/makeups", key=key, body={"date": "2027-03-08"}, language="en")
        unknown = call(client_a, "POST", path, key=key, body={"channel": "x", "extra": 1})
        month = call(client_a, "GET", path + "?month=2027-13", key=key)
        other_brand = call(client_b, "POST", path, key=make_key(brand_b.schema_name), body={})
    problem = assert_problem(bad, 400, "checkin_makeup_refused")
    assert problem["fields"]["date"]
    assert_problem(unknown, 400, "invalid_input")
    assert_problem(month, 400, "invalid_input")
    assert_problem(other_brand, 404, "not_found")


def test_the_openapi_schema_lists_the_check_in_endpoints(client_a, brand_a):
    schema = client_a.get("/api/schema/?format=json")
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/members/{member_no}/checkins" in paths
    assert "/api/v1/members/{member_no}/checkins/makeups" in paths
