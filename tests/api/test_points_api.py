"""Partner points endpoints: summary, ledger pages, redemptions and adjustments."""

import json
from typing import Any

import pytest
from django_tenants.utils import schema_context

from members.models import PointsAdjustRequest, PointsEntry, Redemption, Reward
from webhooks.models import WebhookDelivery

from .conftest import assert_problem, call, make_key

PAID = "2026-01-05T10:00:00+08:00"


def earn(client: Any, key: str, n: int, amount_fen: int = 50000, unionid: str = "union-1") -> int:
    body = {
        "channel": "store",
        "order_no": f"P-{unionid}-{n}",
        "paid_at": PAID,
        "amount_fen": amount_fen,
        "buyer": {"kind": "wechat_unionid", "value": unionid},
    }
    response = call(client, "POST", "/api/v1/orders", key=key, body=body)
    assert response.status_code == 201, response.content
    return int(json.loads(response.content)["points_earned"])


def points(client: Any, key: str, member_no: str) -> dict[str, Any]:
    return json.loads(call(client, "GET", f"/api/v1/members/{member_no}/points", key=key).content)


@pytest.fixture
def reward_a(in_brand_a: Any) -> Reward:
    return Reward.objects.create(code="MUG", name="马克杯", points_cost=100, stock=2)


def test_the_summary_shows_balance_pending_expiring_and_debt(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    earned = earn(client_a, key_a, 1)

    summary = points(client_a, key_a, member_no)

    assert summary["member_no"] == member_no
    assert summary["balance"] + summary["pending"] == earned > 0
    assert summary["debt"] == 0
    assert summary["expiring_within_days"] == 30
    assert 0 <= summary["expiring_soon"] <= summary["balance"]


def test_the_ledger_pages_newest_first_without_gaps(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    enrolled_a(2)
    for n in range(5):
        earn(client_a, key_a, n)
    earn(client_a, key_a, 99, unionid="union-2")  # another member's entry never shows
    seen: list[int] = []
    url: str | None = f"/api/v1/members/{member_no}/points/entries?limit=2"
    while url:
        page = json.loads(call(client_a, "GET", url, key=key_a).content)
        assert len(page["results"]) <= 2
        seen += [entry["id"] for entry in page["results"]]
        url = page["next"]
    with schema_context("alpha"):
        expected = list(
            PointsEntry.objects.filter(member__member_no=member_no).order_by("-id").values_list("id", flat=True)
        )
    assert seen == expected and len(seen) == 5


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("limit=0", 400, "invalid_input"),
        ("limit=x", 400, "invalid_input"),
        ("cursor=cD3kuK0%3D", 404, "not_found"),
    ],
)
def test_bad_page_parameters(client_a, key_a, enrolled_a, query, status, code):
    member_no = enrolled_a(1)
    assert_problem(
        call(client_a, "GET", f"/api/v1/members/{member_no}/points/entries?{query}", key=key_a), status, code
    )


def test_a_forged_cursor_position_is_404_not_500(client_a, key_a, enrolled_a):
    import base64

    member_no = enrolled_a(1)
    cursor = base64.b64encode(b"p=abc").decode()
    assert_problem(
        call(client_a, "GET", f"/api/v1/members/{member_no}/points/entries?cursor={cursor}", key=key_a),
        404,
        "not_found",
    )


def test_a_redemption_spends_points_and_stock_once(client_a, key_a, enrolled_a, reward_a):
    member_no = enrolled_a(1)
    earn(client_a, key_a, 1)
    before = points(client_a, key_a, member_no)["balance"]
    call(
        client_a,
        "POST",
        "/api/v1/webhooks",
        key=key_a,
        body={"url": "https://p.example/h", "events": ["points.changed"]},
    )
    path = f"/api/v1/members/{member_no}/points/redemptions"

    first = call(client_a, "POST", path, key=key_a, body={"reward": "MUG", "reference": "r-1"})
    again = call(client_a, "POST", path, key=key_a, body={"reward": "MUG", "reference": "r-1"})

    assert first.status_code == again.status_code == 201, first.content
    assert json.loads(first.content)["balance"] == before - 100
    assert points(client_a, key_a, member_no)["balance"] == before - 100
    with schema_context("alpha"):
        assert Reward.objects.get(code="MUG").stock == 1
        assert Redemption.objects.count() == 1
        (delivery,) = WebhookDelivery.objects.filter(event="points.changed")
        assert delivery.payload["delta"] == -100


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"reward": "MUG", "reference": "r", "quantity": 3}, 400, "reward_out_of_stock"),
        ({"reward": "NOPE", "reference": "r"}, 400, "invalid_input"),
        ({"reward": "MUG"}, 400, "invalid_input"),
        ({"reward": "MUG", "reference": "r", "quantity": 0}, 400, "invalid_input"),
        ({"reward": "MUG", "reference": "r", "points": 1}, 400, "invalid_input"),
    ],
)
def test_bad_redemptions_change_nothing(client_a, key_a, enrolled_a, reward_a, body, status, code):
    member_no = enrolled_a(1)
    earn(client_a, key_a, 1)
    before = points(client_a, key_a, member_no)

    assert_problem(
        call(client_a, "POST", f"/api/v1/members/{member_no}/points/redemptions", key=key_a, body=body), status, code
    )
    assert points(client_a, key_a, member_no) == before


def test_a_member_cannot_spend_what_they_do_not_have(client_a, key_a, enrolled_a, reward_a):
    member_no = enrolled_a(1)
    assert_problem(
        call(
            client_a,
            "POST",
            f"/api/v1/members/{member_no}/points/redemptions",
            key=key_a,
            body={"reward": "MUG", "reference": "r"},
        ),
        400,
        "points_insufficient",
    )
    with schema_context("alpha"):
        assert Reward.objects.get(code="MUG").stock == 2


def test_another_members_reference_is_theirs(client_a, key_a, enrolled_a, reward_a):
    first, second = enrolled_a(1), enrolled_a(2)
    earn(client_a, key_a, 1)
    earn(client_a, key_a, 2, unionid="union-2")
    body = {"reward": "MUG", "reference": "same"}

    call(client_a, "POST", f"/api/v1/members/{first}/points/redemptions", key=key_a, body=body)
    call(client_a, "POST", f"/api/v1/members/{second}/points/redemptions", key=key_a, body=body)

    with schema_context("alpha"):
        assert sorted(Redemption.objects.values_list("member__member_no", flat=True)) == sorted([first, second])


def test_an_adjustment_is_recorded_once_per_reference(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    path = f"/api/v1/members/{member_no}/points/adjustments"

    first = call(client_a, "POST", path, key=key_a, body={"points": 50, "reason": "客诉补偿", "reference": "a-1"})
    again = call(client_a, "POST", path, key=key_a, body={"points": 50, "reason": "客诉补偿", "reference": "a-1"})

    assert first.status_code == again.status_code == 201, first.content
    assert json.loads(first.content)["balance"] == 50
    assert json.loads(first.content)["entry"]["kind"] == "adjust"
    assert points(client_a, key_a, member_no)["balance"] == 50


def test_partner_adjustments_are_not_held_by_the_staff_daily_caps(client_a, key_a, enrolled_a):
    """Decision (issue 21): an API key is an unlimited machine actor, limited by its points:write
    scope; the per-day caps and the approval queue are for back-office users."""
    member_no = enrolled_a(1)
    path = f"/api/v1/members/{member_no}/points/adjustments"

    for n in range(10):
        body = {"points": 500, "reason": "补录", "reference": f"c-{n}"}
        response = call(client_a, "POST", path, key=key_a, body=body)
        assert response.status_code == 201, response.content

    assert points(client_a, key_a, member_no)["balance"] == 5_000
    with schema_context("alpha"):
        assert not PointsAdjustRequest.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"points": 0, "reason": "x", "reference": "a"}, "points_invalid"),
        ({"points": -10, "reason": "x", "reference": "a"}, "points_insufficient"),
        ({"points": 10, "reason": "", "reference": "a"}, "invalid_input"),
        ({"points": 10**9, "reason": "x", "reference": "a"}, "invalid_input"),
        ({"points": 10, "reason": "x", "reference": "a", "balance": 5}, "invalid_input"),
    ],
)
def test_bad_adjustments_change_nothing(client_a, key_a, enrolled_a, body, code):
    member_no = enrolled_a(1)
    assert_problem(
        call(client_a, "POST", f"/api/v1/members/{member_no}/points/adjustments", key=key_a, body=body), 400, code
    )
    with schema_context("alpha"):
        assert not PointsEntry.objects.exists()


def test_points_writes_need_points_write_and_reads_members_read(
    client_a, client_b, key_b, enrolled_a, reward_a, brand_a
):
    member_no = enrolled_a(1)
    no_points = make_key("alpha", scopes=["members:read", "orders:write"])
    no_read = make_key("alpha", scopes=["points:write"])
    base = f"/api/v1/members/{member_no}/points"

    assert_problem(
        call(
            client_a, "POST", f"{base}/adjustments", key=no_points, body={"points": 5, "reason": "x", "reference": "a"}
        ),
        403,
        "scope_missing",
    )
    assert_problem(
        call(client_a, "POST", f"{base}/redemptions", key=no_points, body={"reward": "MUG", "reference": "r"}),
        403,
        "scope_missing",
    )
    assert_problem(call(client_a, "GET", base, key=no_read), 403, "scope_missing")
    assert_problem(call(client_a, "GET", f"{base}/entries", key=no_read), 403, "scope_missing")
    assert_problem(call(client_b, "GET", base, key=key_b), 404, "not_found")
    assert_problem(
        call(client_b, "POST", f"{base}/adjustments", key=key_b, body={"points": 5, "reason": "x", "reference": "a"}),
        404,
        "not_found",
    )
    with schema_context("alpha"):
        assert not PointsEntry.objects.exists()
