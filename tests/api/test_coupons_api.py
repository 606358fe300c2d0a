"""Coupons' partner API: validate (dry run), redeem with a request number (a replay returns the
first result), rollback, issue to a member, a member's list; refusals are problem+json; webhooks
coupon.issued / redeemed / returned are recorded."""

import datetime as dt
import json

import pytest
import time_machine
from django_tenants.utils import schema_context

from coupons.models import CouponTemplate
from coupons.services import coupon_codes_generate, coupon_template_create
from crm.api.models import Partner
from tests.clock import SHANGHAI
from tests.conftest import brand_host, host_client
from tests.factories import MemberFactory, StoreFactory
from webhooks.models import WebhookDelivery, WebhookSubscription

from .conftest import assert_problem, call, make_key

NOW = dt.datetime(2027, 6, 15, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def scene(brand_a, key_a):
    with time_machine.travel(NOW, tick=False), schema_context("alpha"):
        store = StoreFactory.create(code="SH01")
        other = StoreFactory.create(code="SH02")
        member = MemberFactory.create()
        tpl = coupon_template_create(
            template=CouponTemplate(
                name="满100减20",
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                threshold_fen=10_000,
                amount_off_fen=2_000,
                validity_kind=CouponTemplate.ValidityKind.FIXED,
                valid_until_date=dt.date(2027, 6, 30),
                code_mode=CouponTemplate.CodeMode.GENERATED,
            ),
            store_ids=[store.pk],
        )
        coupon_codes_generate(template_id=tpl.pk, count=3)
        partner = Partner.objects.get(name="商城")
        WebhookSubscription.objects.create(
            partner=partner,
            url="https://hooks.example/c",
            events=["coupon.issued", "coupon.redeemed", "coupon.returned"],
            secret="s",
        )
        yield {"store": store, "other": other, "member": member, "tpl": tpl}


def test_issue_validate_redeem_replay_rollback(client_a, key_a, scene):
    member_no = scene["member"].member_no
    with time_machine.travel(NOW, tick=False):
        issued = call(
            client_a,
            "POST",
            f"/api/v1/members/{member_no}/coupons",
            key=key_a,
            body={"template_id": scene["tpl"].pk, "source_key": "i1"},
        )
        assert issued.status_code == 201, issued.content
        code = json.loads(issued.content)["code"]
        listed = json.loads(call(client_a, "GET", f"/api/v1/members/{member_no}/coupons", key=key_a).content)
        assert [c["usable"] for c in listed] == [True]
        order = {"code": code, "store_code": "SH01", "channel": "store", "order_no": "POS1", "order_amount_fen": 15_000}
        check = call(client_a, "POST", "/api/v1/coupons/validate", key=key_a, body=order)
        assert json.loads(check.content)["discount_fen"] == 2_000
        wrong = json.loads(
            call(
                client_a,
                "POST",
                "/api/v1/coupons/validate",
                key=key_a,
                body={**order, "store_code": "SH02", "order_amount_fen": 100},
            ).content
        )
        assert (wrong["usable"], [r["code"] for r in wrong["reasons"]]) == (
            False,
            ["coupon_wrong_store", "coupon_below_threshold"],
        )
        redeemed = call(client_a, "POST", "/api/v1/coupons/redemptions", key=key_a, body={**order, "request_no": "Q1"})
        assert redeemed.status_code == 201, redeemed.content
        replay = call(client_a, "POST", "/api/v1/coupons/redemptions", key=key_a, body={**order, "request_no": "Q1"})
        assert replay.status_code == 200
        assert json.loads(replay.content)["id"] == json.loads(redeemed.content)["id"]
        used = call(client_a, "POST", "/api/v1/coupons/redemptions", key=key_a, body={**order, "request_no": "Q2"})
        body = assert_problem(used, 400, "coupon_used")
        assert body["fields"]["reasons"] == ["coupon_used"]
        rid = json.loads(redeemed.content)["id"]
        back = call(
            client_a, "POST", f"/api/v1/coupons/redemptions/{rid}/rollback", key=key_a, body={"reason": "收银员点错"}
        )
        assert json.loads(back.content)["status"] == "rolled_back"
    with schema_context("alpha"):
        events = list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True))
    assert events == ["coupon.issued", "coupon.redeemed", "coupon.returned"]


def test_refusals_are_problems_in_both_languages(client_a, key_a, client_b, key_b, scene):
    order = {"code": "NOPE-NOPE-NOPE", "channel": "store", "order_no": "X", "order_amount_fen": 100, "request_no": "Z"}
    assert_problem(
        call(client_a, "POST", "/api/v1/coupons/redemptions", key=key_a, body=order), 404, "coupon_not_found"
    )
    english = call(client_a, "POST", "/api/v1/coupons/redemptions", key=key_a, body=order, language="en")
    assert assert_problem(english, 404, "coupon_not_found")["detail"] == "Unknown coupon code."
    bad_store = {**{k: v for k, v in order.items() if k != "request_no"}, "store_code": "NOPE"}
    assert_problem(
        call(client_a, "POST", "/api/v1/coupons/validate", key=key_a, body=bad_store), 400, "coupon_store_unknown"
    )
    assert_problem(
        call(client_a, "POST", "/api/v1/coupons/redemptions/999999/rollback", key=key_a, body={}),
        404,
        "coupon_redemption_not_found",
    )


def test_issue_names_the_sending_staff_a_touch_of_theirs(client_a, key_a, scene):
    from members.models import Staff
    from performance.models import Touch, TouchKind

    member_no = scene["member"].member_no
    with schema_context("alpha"):
        zhang = Staff.objects.create(name="张三", wecom_userid="zhangsan", store=scene["store"])
    with time_machine.travel(NOW, tick=False):
        ok = call(
            client_a,
            "POST",
            f"/api/v1/members/{member_no}/coupons",
            key=key_a,
            body={"template_id": scene["tpl"].pk, "source_key": "side-1", "staff_userid": "zhangsan"},
        )
        unknown = call(
            client_a,
            "POST",
            f"/api/v1/members/{member_no}/coupons",
            key=key_a,
            body={"template_id": scene["tpl"].pk, "source_key": "side-2", "staff_userid": "nobody"},
        )
    assert ok.status_code == 201, ok.content
    assert_problem(unknown, 400, "coupon_issue_invalid")
    with schema_context("alpha"):
        assert list(Touch.objects.values_list("staff_id", "member_id", "kind")) == [
            (zhang.pk, scene["member"].pk, TouchKind.COUPON)
        ]


def test_coupons_need_their_own_scopes_and_a_key_without_them_gets_403_problems(client_a, brand_a, scene):
    """Issuing, redeeming and rolling back are money: a key that may post orders and write
    members (what the POS had before) cannot touch coupons; a read-only coupons key can validate
    and list but not write anything."""
    member_no = scene["member"].member_no
    pos = make_key("alpha", scopes=["orders:write", "members:read", "members:write"], partner="旧 POS")
    reader = make_key("alpha", scopes=["coupons:read"], partner="小程序")
    order = {"code": "NOPE1234", "store_code": "SH01", "channel": "store", "order_no": "P1", "order_amount_fen": 100}
    writes = [
        ("/api/v1/coupons/redemptions", {**order, "request_no": "R1"}),
        ("/api/v1/coupons/redemptions/1/rollback", {}),
        (f"/api/v1/members/{member_no}/coupons", {"template_id": scene["tpl"].pk, "source_key": "s1"}),
    ]
    with time_machine.travel(NOW, tick=False):
        for key in (pos, reader):
            for path, body in writes:
                refused = assert_problem(call(client_a, "POST", path, key=key, body=body), 403, "scope_missing")
                assert "coupons:write" in refused["detail"]
        for path, method, body in (
            ("/api/v1/coupons/validate", "POST", order),
            (f"/api/v1/members/{member_no}/coupons", "GET", None),
        ):
            refused = assert_problem(call(client_a, method, path, key=pos, body=body), 403, "scope_missing")
            assert "coupons:read" in refused["detail"]
        # The read scope reads: an unknown code is a 404, a member's (empty) list a 200.
        assert_problem(
            call(client_a, "POST", "/api/v1/coupons/validate", key=reader, body=order), 404, "coupon_not_found"
        )
        assert call(client_a, "GET", f"/api/v1/members/{member_no}/coupons", key=reader).status_code == 200
    with schema_context("alpha"):
        assert not scene["tpl"].codes.filter(coupon__isnull=False).exists()  # nothing was issued


def test_the_schema_names_the_coupon_scopes(db):
    schema = json.loads(
        host_client(brand_host("alpha")).get("/api/schema/", headers={"Accept": "application/json"}).content
    )
    operations = {
        op["operationId"]: op for item in schema["paths"].values() for op in item.values() if "operationId" in op
    }
    for operation, scope in (
        ("coupons_validate", "coupons:read"),
        ("members_coupons_list", "coupons:read"),
        ("coupons_redeem", "coupons:write"),
        ("coupons_redemption_rollback", "coupons:write"),
        ("members_coupons_issue", "coupons:write"),
    ):
        assert f"Scope `{scope}`" in operations[operation]["description"]
        assert "403" in operations[operation]["responses"]
