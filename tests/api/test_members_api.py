"""Partner member endpoints: enrol with the brand's own consent, OneID look-up, profile, identity
binding and merge — by member number, on the key's own brand only."""

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from consent.models import ConsentRecord
from members.models import Identity, Member
from webhooks.models import WebhookDelivery

from .conftest import assert_problem, call, enrol_body, make_key

MEMBERS = "/api/v1/members"


def member_count(slug: str = "alpha") -> int:
    with schema_context(slug):
        return Member.objects.count()


def subscribe(client: Any, key: str, events: list[str]) -> None:
    response = call(client, "POST", "/api/v1/webhooks", key=key, body={"url": "https://p.example/h", "events": events})
    assert response.status_code == 201


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *_strings(item)]]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def test_enrol_creates_the_member_with_its_identities_consent_and_webhook(client_a, key_a, versions_a):
    subscribe(client_a, key_a, ["member.enrolled"])

    response = call(client_a, "POST", MEMBERS, key=key_a, body=enrol_body(versions_a, 1))

    assert response.status_code == 201, response.content
    body = json.loads(response.content)
    assert response["Location"] == f"{MEMBERS}/{body['member_no']}"
    assert body["mobile"] == "+8613900000001"
    assert {(i["kind"], i["value"]) for i in body["identities"]} == {
        ("mobile", "+8613900000001"),
        ("wechat_unionid", "union-1"),
    }
    assert body["points_balance"] == 0
    with schema_context("alpha"):
        member = Member.objects.get(member_no=body["member_no"])
        records = {r.purpose: r for r in ConsentRecord.objects.filter(member=member)}
        assert records["membership"].granted and not records["marketing_sms"].granted
        assert records["membership"].channel == "partner_api"
        assert records["membership"].evidence["partner_reference"] == "mp-consent-1"
        (delivery,) = WebhookDelivery.objects.filter(event="member.enrolled")
        assert delivery.payload["member_no"] == body["member_no"]
        # No name and no mobile in any form (E.164, national, masked). String values are checked,
        # not the JSON text, where a timestamp's microseconds may well read "139".
        texts = _strings(delivery.payload)
        assert not any("李" in text or text.removeprefix("+86").startswith("139") for text in texts), texts


def _minus_consent(versions: dict[str, int]) -> dict[str, Any]:
    body = enrol_body(versions, 9)
    del body["consents"]
    return body


BAD_ENROLMENTS = [
    ("no consents", lambda v: _minus_consent(v), 400, "invalid_input", "consents"),
    ("read-only tier", lambda v: enrol_body(v, 9, tier="gold"), 400, "invalid_input", "tier"),
    ("read-only balance", lambda v: enrol_body(v, 9, points_balance=100), 400, "invalid_input", "points_balance"),
    ("unknown field", lambda v: enrol_body(v, 9, vip=True), 400, "invalid_input", "vip"),
    (
        "no partner reference",
        lambda v: enrol_body(v, 9, consent_evidence={"ip": "203.0.113.1"}),
        400,
        "invalid_input",
        "consent_evidence.partner_reference",
    ),
    (
        "membership refused",
        lambda v: enrol_body(
            v, 9, consents=[{"purpose": "membership", "granted": False, "version_id": v["membership"]}]
        ),
        400,
        "consent_membership_required",
        "consents",
    ),
    (
        "unknown version",
        lambda v: enrol_body(v, 9, consents=[{"purpose": "membership", "granted": True, "version_id": 999999}]),
        400,
        "consent_version_not_current",
        "consents",
    ),
    (
        "purpose not in version",
        lambda v: enrol_body(
            v,
            9,
            consents=[
                {"purpose": "membership", "granted": True, "version_id": v["membership"]},
                {"purpose": "marketing_sms", "granted": True, "version_id": v["membership"]},
            ],
        ),
        400,
        "consent_purpose_not_in_version",
        "consents",
    ),
    (
        "under 14 without guardian",
        lambda v: enrol_body(v, 9, birthday=(timezone.localdate() - dt.timedelta(days=365 * 10)).isoformat()),
        400,
        "consent_guardian_required",
        "guardian",
    ),
    ("bad mobile", lambda v: enrol_body(v, 9, mobile="12345"), 400, "mobile_invalid", None),
    ("unknown store", lambda v: enrol_body(v, 9, home_store="NOPE"), 400, "invalid_input", "home_store"),
    (
        "bad identity kind",
        lambda v: enrol_body(v, 9, identities=[{"kind": "qq", "value": "1"}]),
        400,
        "invalid_input",
        "identities.0.kind",
    ),
    ("not an object", lambda v: [enrol_body(v, 9)], 400, "invalid_input", None),
]


@pytest.mark.parametrize(
    ("case", "make", "status", "code", "field"), BAD_ENROLMENTS, ids=[c[0] for c in BAD_ENROLMENTS]
)
def test_bad_enrolments_are_refused_and_enrol_nobody(client_a, key_a, versions_a, case, make, status, code, field):
    before = member_count()

    problem = assert_problem(call(client_a, "POST", MEMBERS, key=key_a, body=make(versions_a)), status, code)

    if field is not None:
        assert field in problem["fields"], problem
    assert member_count() == before
    with schema_context("alpha"):
        assert not Identity.objects.filter(value="union-9").exists()


def test_a_minor_with_a_guardian_is_enrolled(client_a, key_a, versions_a):
    birthday = (timezone.localdate() - dt.timedelta(days=365 * 10)).isoformat()
    evidence = {"partner_reference": "ref-g", "guardian": {"name": "李父", "relation": "父亲"}}

    response = call(
        client_a,
        "POST",
        MEMBERS,
        key=key_a,
        body=enrol_body(versions_a, 3, birthday=birthday, consent_evidence=evidence),
    )

    assert response.status_code == 201, response.content
    with schema_context("alpha"):
        record = ConsentRecord.objects.get(
            member__member_no=json.loads(response.content)["member_no"], purpose="membership"
        )
        assert record.evidence["guardian"]["relation"] == "父亲"


def test_enrolling_the_same_person_again_is_409_naming_the_member(client_a, key_a, enrolled_a, versions_a):
    member_no = enrolled_a(1)

    again = call(client_a, "POST", MEMBERS, key=key_a, body=enrol_body(versions_a, 1))

    problem = assert_problem(again, 409, "member_already_enrolled")
    assert member_no in problem["detail"]
    assert member_count() == 1


def test_enrol_needs_members_write_and_a_key_of_this_brand(client_a, key_b, versions_a, brand_a):
    read_only = make_key("alpha", scopes=["members:read"])

    assert_problem(call(client_a, "POST", MEMBERS, key=read_only, body=enrol_body(versions_a, 1)), 403, "scope_missing")
    assert_problem(call(client_a, "POST", MEMBERS, key=key_b, body=enrol_body(versions_a, 1)), 401, "api_key_invalid")
    assert member_count() == 0


@pytest.mark.parametrize(
    ("kind", "value"),
    [("wechat_unionid", "union-1"), ("mobile", "139 0000 0001"), ("mobile", "+8613900000001"), ("member_no", None)],
)
def test_lookup_finds_the_member_by_any_identity(client_a, key_a, enrolled_a, kind, value):
    member_no = enrolled_a(1)
    enrolled_a(2)

    response = call(client_a, "GET", f"{MEMBERS}/lookup?kind={kind}&value={value or member_no.lower()}", key=key_a)

    assert response.status_code == 200, response.content
    assert json.loads(response.content)["member_no"] == member_no


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("kind=wechat_unionid&value=nobody", 404, "not_found"),
        ("kind=qq&value=1", 400, "invalid_input"),
        ("kind=mobile", 400, "invalid_input"),
        ("kind=mobile&value=12", 400, "mobile_invalid"),
        ("kind=mobile&value=13900000001&extra=1", 400, "invalid_input"),
    ],
)
def test_lookup_bad_input_and_misses(client_a, key_a, enrolled_a, query, status, code):
    enrolled_a(1)
    assert_problem(call(client_a, "GET", f"{MEMBERS}/lookup?{query}", key=key_a), status, code)


def test_lookup_and_read_need_members_read(client_a, enrolled_a, brand_a):
    member_no = enrolled_a(1)
    key = make_key("alpha", scopes=["orders:write"])

    assert_problem(call(client_a, "GET", f"{MEMBERS}/{member_no}", key=key), 403, "scope_missing")
    assert_problem(
        call(client_a, "GET", f"{MEMBERS}/lookup?kind=member_no&value={member_no}", key=key), 403, "scope_missing"
    )


def test_another_brand_never_sees_the_member(client_a, client_b, key_a, key_b, enrolled_a):
    member_no = enrolled_a(1)

    assert_problem(call(client_b, "GET", f"{MEMBERS}/{member_no}", key=key_b), 404, "not_found")
    assert_problem(
        call(client_b, "GET", f"{MEMBERS}/lookup?kind=wechat_unionid&value=union-1", key=key_b), 404, "not_found"
    )
    assert_problem(call(client_a, "GET", f"{MEMBERS}/{member_no}", key=key_b), 401, "api_key_invalid")


@pytest.mark.parametrize("member_no", ["M99999999", "x" * 30, "%00", "中文", "M1;DROP"])
def test_unknown_or_malformed_member_numbers_are_404(client_a, key_a, member_no):
    assert_problem(call(client_a, "GET", f"{MEMBERS}/{member_no}", key=key_a), 404, "not_found")


def test_patch_changes_only_what_was_sent(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)

    response = call(
        client_a, "PATCH", f"{MEMBERS}/{member_no}", key=key_a, body={"name": "李蕾", "mobile": "13900009999"}
    )

    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert (body["name"], body["mobile"], body["gender"]) == ("李蕾", "+8613900009999", "female")
    assert ("mobile", "+8613900000001") not in {(i["kind"], i["value"]) for i in body["identities"]}


@pytest.mark.parametrize(
    ("patch", "status", "code", "field"),
    [
        ({"tier": "gold"}, 400, "invalid_input", "tier"),
        ({"points_balance": 5}, 400, "invalid_input", "points_balance"),
        ({}, 400, "invalid_input", "non_field_errors"),
        ({"gender": "x"}, 400, "invalid_input", "gender"),
        ({"birthday": "2999-01-01"}, 400, "member_invalid", "birthday"),
        ({"name": "李" * 51}, 400, "invalid_input", "name"),
        ({"mobile": "+8613900000002"}, 409, "identity_conflict", None),
    ],
)
def test_bad_patches_change_nothing(client_a, key_a, enrolled_a, patch, status, code, field):
    member_no = enrolled_a(1)
    enrolled_a(2)
    before = json.loads(call(client_a, "GET", f"{MEMBERS}/{member_no}", key=key_a).content)

    problem = assert_problem(call(client_a, "PATCH", f"{MEMBERS}/{member_no}", key=key_a, body=patch), status, code)

    if field:
        assert field in problem["fields"]
    assert json.loads(call(client_a, "GET", f"{MEMBERS}/{member_no}", key=key_a).content) == before


def test_patch_needs_members_write(client_a, enrolled_a, brand_a):
    member_no = enrolled_a(1)
    key = make_key("alpha", scopes=["members:read"])
    assert_problem(call(client_a, "PATCH", f"{MEMBERS}/{member_no}", key=key, body={"name": "x"}), 403, "scope_missing")


def test_binding_an_identity_and_binding_it_again(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    path = f"{MEMBERS}/{member_no}/identities"

    first = call(client_a, "POST", path, key=key_a, body={"kind": "tmall_ouid", "value": "tm-1"})
    again = call(client_a, "POST", path, key=key_a, body={"kind": "tmall_ouid", "value": "tm-1"})

    assert first.status_code == again.status_code == 200
    assert ("tmall_ouid", "tm-1") in {(i["kind"], i["value"]) for i in json.loads(again.content)["identities"]}
    with schema_context("alpha"):
        assert Identity.objects.filter(kind="tmall_ouid", value="tm-1").count() == 1


def test_binding_another_members_identity_is_409_and_moves_nothing(client_a, key_a, enrolled_a):
    first = enrolled_a(1)
    second = enrolled_a(2)

    response = call(
        client_a,
        "POST",
        f"{MEMBERS}/{first}/identities",
        key=key_a,
        body={"kind": "wechat_unionid", "value": "union-2"},
    )

    problem = assert_problem(response, 409, "identity_conflict")
    assert second in problem["detail"]
    with schema_context("alpha"):
        assert Identity.objects.get(kind="wechat_unionid", value="union-2").member.member_no == second


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "qq", "value": "1"}, "invalid_input"),
        ({"kind": "mobile", "value": "1"}, "mobile_invalid"),
        ({"kind": "pos_card"}, "invalid_input"),
    ],
)
def test_bad_identities_are_400(client_a, key_a, enrolled_a, body, code):
    member_no = enrolled_a(1)
    assert_problem(call(client_a, "POST", f"{MEMBERS}/{member_no}/identities", key=key_a, body=body), 400, code)


def test_merge_moves_identities_and_the_old_number_finds_the_survivor(client_a, key_a, enrolled_a):
    survivor = enrolled_a(1)
    merged = enrolled_a(2)

    response = call(
        client_a,
        "POST",
        f"{MEMBERS}/merge",
        key=key_a,
        body={"survivor_member_no": survivor, "merged_member_no": merged, "reason": "同一顾客两个账号"},
    )

    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert body["survivor"]["member_no"] == survivor and body["merged_member_no"] == merged
    assert ("wechat_unionid", "union-2") in {(i["kind"], i["value"]) for i in body["survivor"]["identities"]}
    assert json.loads(call(client_a, "GET", f"{MEMBERS}/{merged}", key=key_a).content)["member_no"] == survivor


@pytest.mark.parametrize(
    ("which", "status", "code"),
    [("self", 400, "merge_invalid"), ("unknown", 404, "not_found"), ("no reason", 400, "invalid_input")],
)
def test_bad_merges_change_nothing(client_a, key_a, enrolled_a, which, status, code):
    first = enrolled_a(1)
    second = enrolled_a(2)
    body = {"survivor_member_no": first, "merged_member_no": second, "reason": "x"}
    if which == "self":
        body["merged_member_no"] = first
    elif which == "unknown":
        body["merged_member_no"] = "M99999999"
    else:
        del body["reason"]

    assert_problem(call(client_a, "POST", f"{MEMBERS}/merge", key=key_a, body=body), status, code)
    with schema_context("alpha"):
        assert not Member.objects.filter(status="merged").exists()


def test_merge_needs_members_write(client_a, enrolled_a, brand_a):
    body = {"survivor_member_no": enrolled_a(1), "merged_member_no": enrolled_a(2), "reason": "x"}
    key = make_key("alpha", scopes=["members:read"])
    assert_problem(call(client_a, "POST", f"{MEMBERS}/merge", key=key, body=body), 403, "scope_missing")
