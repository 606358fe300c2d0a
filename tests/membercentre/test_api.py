"""The member centre's partner API: member code resolve/consume at the POS, a member's signed
member-centre link, and the mini-program's member-scoped endpoints, on two brands."""

import pytest

from membercentre.models import MemberCodeResolution
from membercentre.services.codes import member_code_issue
from members.models import Identity
from tests.api.conftest import assert_problem, call, make_key
from tests.conftest import BRAND_A, BRAND_B

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(brand_a, brand_b):
    return make_key(BRAND_A, partner="收银系统"), make_key(BRAND_B, partner="收银系统")


def test_the_pos_resolves_a_code_and_the_resolution_is_audited(member_a, client_a, keys):
    code = member_code_issue(member_id=member_a.pk).code

    response = call(client_a, "POST", "/api/v1/member-codes/resolve", key=keys[0], body={"code": code})

    assert response.status_code == 200
    body = response.json()
    assert body["member_no"] == member_a.member_no and "*" in body["name"]
    audit = MemberCodeResolution.objects.get()
    assert audit.member == member_a and audit.actor == "api:收银系统" and audit.via == "api"


def test_a_code_of_brand_a_is_unknown_on_brand_bs_host(member_a, client_b, keys):
    code = member_code_issue(member_id=member_a.pk).code

    response = call(client_b, "POST", "/api/v1/member-codes/resolve", key=keys[1], body={"code": code})

    assert_problem(response, 404, "member_code_invalid")


def test_consume_is_single_use_through_the_api(member_a, client_a, keys):
    code = member_code_issue(member_id=member_a.pk).code
    first = call(client_a, "POST", "/api/v1/member-codes/consume", key=keys[0], body={"code": code, "reference": "W1"})
    assert first.status_code == 200

    again = call(client_a, "POST", "/api/v1/member-codes/consume", key=keys[0], body={"code": code, "reference": "W2"})
    assert_problem(again, 409, "member_code_used")


def test_wrong_codes_are_throttled_per_key(member_a, client_a, keys):
    for _ in range(20):
        call(client_a, "POST", "/api/v1/member-codes/resolve", key=keys[0], body={"code": "0" * 18})
    code = member_code_issue(member_id=member_a.pk).code

    response = call(client_a, "POST", "/api/v1/member-codes/resolve", key=keys[0], body={"code": code})

    assert_problem(response, 429, "member_code_throttled")


def test_a_partner_mints_a_member_centre_link_that_signs_in_on_its_brand(member_a, client_a, client_b, keys):
    response = call(client_a, "POST", f"/api/v1/members/{member_a.member_no}/member-centre-link", key=keys[0], body={})

    assert response.status_code == 201
    url = response.json()["url"]
    path = url.split(".localhost", 1)[-1].split("/", 1)[-1]
    assert client_a.get("/" + path)["Location"] == "/m/"
    assert client_b.get("/" + path).status_code == 404


def test_mini_program_signs_in_by_unionid_and_sees_only_its_members_data(member_a, client_a, client_b, keys):
    Identity.objects.create(member=member_a, kind="wechat_unionid", value="uMini0001")
    session = call(
        client_a,
        "POST",
        "/api/v1/miniprogram/sessions",
        key=keys[0],
        body={"unionid": "uMini0001", "evidence": {"request_id": "c2s-1"}},
    )
    assert session.status_code == 201
    token = {"X-Member-Token": session.json()["member_token"]}

    card = call(client_a, "GET", "/api/v1/me/card", key=keys[0], headers=token).json()
    assert card["member_no"] == member_a.member_no and card["points_balance"] == member_a.points_balance
    assert call(client_a, "GET", "/api/v1/me/orders", key=keys[0], headers=token).json() == {"results": []}
    code = call(client_a, "POST", "/api/v1/me/member-code", key=keys[0], headers=token, body={})
    assert code.status_code == 201 and len(code.json()["code"]) == 18 and "<svg" in code.json()["qr_svg"]
    consents = call(client_a, "GET", "/api/v1/me/consents", key=keys[0], headers=token).json()
    assert {c["purpose"]: c["effective"] for c in consents}["marketing_sms"] is True
    withdrawn = call(
        client_a,
        "POST",
        "/api/v1/me/consents",
        key=keys[0],
        headers=token,
        body={"purpose": "marketing_sms", "granted": False},
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["effective"] is False

    # the token is worthless on brand B's host, and with no token there is no member
    assert_problem(call(client_b, "GET", "/api/v1/me/card", key=keys[1], headers=token), 401, "member_token_invalid")
    assert_problem(call(client_a, "GET", "/api/v1/me/card", key=keys[0]), 401, "member_token_invalid")


def test_mini_program_sign_in_of_a_stranger_is_not_a_member(agreements_a, client_a, keys):
    response = call(
        client_a,
        "POST",
        "/api/v1/miniprogram/sessions",
        key=keys[0],
        body={"openid": "oStranger", "evidence": {"request_id": "c2s-2"}},
    )
    assert_problem(response, 404, "not_a_member")


def test_mini_program_sign_in_needs_evidence(client_a, keys):
    response = call(client_a, "POST", "/api/v1/miniprogram/sessions", key=keys[0], body={"openid": "oX"})
    assert response.status_code == 400


def test_the_endpoints_are_in_the_openapi_schema(client_a):
    schema = client_a.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/v1/member-codes/resolve", "/api/v1/me/card", "/api/v1/miniprogram/sessions"):
        assert path in schema
