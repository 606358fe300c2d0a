"""Partner catalogue: agreements in force (what enrolment and consent reference), tiers, rewards."""

import json

from django_tenants.utils import schema_context

from members.models import Reward, Tier

from .conftest import assert_problem, call, make_key


def test_agreements_list_the_versions_in_force_with_their_purposes(client_a, key_a, versions_a):
    response = call(client_a, "GET", "/api/v1/agreements", key=key_a)

    assert response.status_code == 200
    results = json.loads(response.content)["results"]
    by_id = {r["version_id"]: r for r in results}
    assert by_id[versions_a["membership"]]["kind"] == "membership"
    assert "membership" in by_id[versions_a["membership"]]["purposes"]
    assert by_id[versions_a["marketing"]]["purposes"] == ["marketing_sms", "marketing_wecom"]
    assert results[0]["kind"] == "membership"  # membership first
    assert all(r["text"] for r in results)


def test_tiers_lowest_first_and_rewards_on_the_shelf_only(client_a, key_a, in_brand_a):
    Tier.objects.create(code="gold", name="金卡", rank=3, threshold=100000)
    Tier.objects.create(code="silver", name="银卡", rank=2, threshold=50000)
    Reward.objects.create(code="MUG", name="马克杯", points_cost=100, stock=5)
    Reward.objects.create(code="OLD", name="下架", points_cost=100, is_active=False)

    tiers = json.loads(call(client_a, "GET", "/api/v1/tiers", key=key_a).content)["results"]
    rewards = json.loads(call(client_a, "GET", "/api/v1/rewards", key=key_a).content)["results"]

    codes = [t["code"] for t in tiers]
    assert codes.index("silver") < codes.index("gold")
    assert [r["code"] for r in rewards] == ["MUG"]
    assert rewards[0]["stock"] == 5


def test_another_brand_sees_its_own_catalogue(client_b, key_b, in_brand_a):
    Reward.objects.create(code="MUG", name="马克杯", points_cost=100)
    with schema_context("beta"):
        assert json.loads(call(client_b, "GET", "/api/v1/rewards", key=key_b).content)["results"] == []


def test_the_catalogue_needs_members_read_and_a_key_of_this_brand(client_a, key_b, brand_a):
    key = make_key("alpha", scopes=["orders:write"])
    for path in ("/api/v1/agreements", "/api/v1/tiers", "/api/v1/rewards"):
        assert_problem(call(client_a, "GET", path, key=key), 403, "scope_missing")
        assert_problem(call(client_a, "GET", path, key=key_b), 401, "api_key_invalid")
        assert_problem(call(client_a, "POST", path, key=key, body={}), 405, "method_not_allowed")
