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
from tests.factories import MemberFactory, StoreFactory
from webhooks.models import WebhookDelivery, WebhookSubscription

from .conftest import assert_problem, call

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
