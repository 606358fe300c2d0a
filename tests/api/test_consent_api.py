"""Partner consent endpoints: a member's current state and history, grant and withdraw per
purpose; withdrawal is as easy as granting and reaches partners as consent.withdrawn, whichever
channel it came through."""

import datetime as dt
import json

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from consent.models import ConsentRecord, ConsentState
from consent.services import consent_withdraw
from consent.types import ConsentEvidence
from members.models import Member
from webhooks.models import WebhookDelivery

from .conftest import assert_problem, call, make_key


def consents(client, key, member_no, query=""):
    return json.loads(call(client, "GET", f"/api/v1/members/{member_no}/consents{query}", key=key).content)


def test_history_and_current_state_after_enrolment(client_a, key_a, enrolled_a, versions_a):
    member_no = enrolled_a(1)

    body = consents(client_a, key_a, member_no)

    current = {s["purpose"]: s for s in body["current"]}
    assert current["membership"]["effective"] is True
    assert current["marketing_sms"]["granted"] is False
    assert current["membership"]["channel"] == "partner_api"
    assert [(r["purpose"], r["granted"]) for r in body["history"]] == [("membership", True), ("marketing_sms", False)]


def test_grant_then_withdraw_a_purpose(client_a, key_a, enrolled_a, versions_a):
    member_no = enrolled_a(1)
    call(
        client_a,
        "POST",
        "/api/v1/webhooks",
        key=key_a,
        body={"url": "https://p.example/h", "events": ["consent.withdrawn"]},
    )
    path = f"/api/v1/members/{member_no}/consents"
    grant = {
        "purpose": "marketing_sms",
        "granted": True,
        "version_id": versions_a["marketing"],
        "partner_reference": "mp-9",
    }

    granted = call(client_a, "POST", path, key=key_a, body=grant)
    granted_again = call(client_a, "POST", path, key=key_a, body=grant)
    withdrawn = call(client_a, "POST", path, key=key_a, body={"purpose": "marketing_sms", "granted": False})

    assert granted.status_code == 200, granted.content
    assert json.loads(granted.content)["effective"] is True
    assert json.loads(granted_again.content) == json.loads(granted.content)
    assert json.loads(withdrawn.content)["granted"] is False
    with schema_context("alpha"):
        assert ConsentRecord.objects.filter(member__member_no=member_no, purpose="marketing_sms").count() == 3
        (delivery,) = WebhookDelivery.objects.filter(event="consent.withdrawn")
    assert delivery.payload["member_no"] == member_no
    assert delivery.payload["purposes"] == ["marketing_sms"]


def test_a_withdrawal_in_the_admin_also_reaches_partners(client_a, key_a, enrolled_a, in_brand_a):
    member_no = enrolled_a(1)
    call(
        client_a,
        "POST",
        "/api/v1/webhooks",
        key=key_a,
        body={"url": "https://p.example/h", "events": ["consent.withdrawn"]},
    )

    consent_withdraw(
        member_id=Member.objects.get(member_no=member_no).pk,
        purpose="membership",
        evidence=ConsentEvidence(channel="admin"),
        actor="admin",
    )

    (delivery,) = WebhookDelivery.objects.filter(event="consent.withdrawn")
    assert delivery.payload["member_no"] == member_no
    assert "membership" in delivery.payload["purposes"]


def test_the_state_at_a_past_time(client_a, key_a, enrolled_a, versions_a):
    member_no = enrolled_a(1)
    before_enrolment = (timezone.now() - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")

    body = consents(client_a, key_a, member_no, f"?at={before_enrolment}")

    assert body["current"] == [] and body["history"] == []


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"purpose": "marketing_sms", "granted": True}, "consent_evidence_missing", "partner_reference"),
        ({"purpose": "marketing_sms", "granted": True, "partner_reference": ""}, "invalid_input", "partner_reference"),
        (
            {"purpose": "marketing_sms", "granted": True, "version_id": 999999, "partner_reference": "r"},
            "consent_version_not_current",
            "version",
        ),
        ({"purpose": "spam", "granted": True, "partner_reference": "r"}, "invalid_input", "purpose"),
        ({"purpose": "marketing_sms"}, "invalid_input", "granted"),
        ({"purpose": "marketing_sms", "granted": True, "partner_reference": "r", "all": True}, "invalid_input", "all"),
    ],
)
def test_bad_consent_changes_record_nothing(client_a, key_a, enrolled_a, versions_a, body, code, field):
    member_no = enrolled_a(1)
    with schema_context("alpha"):
        before = ConsentRecord.objects.count()

    problem = assert_problem(
        call(client_a, "POST", f"/api/v1/members/{member_no}/consents", key=key_a, body=body), 400, code
    )

    assert field in problem["fields"], problem
    with schema_context("alpha"):
        assert ConsentRecord.objects.count() == before


def test_a_withdrawal_of_one_member_leaves_another_alone(client_a, key_a, enrolled_a):
    first, second = enrolled_a(1), enrolled_a(2)

    call(
        client_a,
        "POST",
        f"/api/v1/members/{first}/consents",
        key=key_a,
        body={"purpose": "membership", "granted": False},
    )

    with schema_context("alpha"):
        assert ConsentState.objects.get(member__member_no=second, purpose="membership").granted is True
        assert ConsentState.objects.get(member__member_no=first, purpose="membership").granted is False


def test_consent_needs_consent_write_and_the_members_brand(client_a, client_b, key_b, enrolled_a, brand_a):
    member_no = enrolled_a(1)
    path = f"/api/v1/members/{member_no}/consents"
    no_consent = make_key("alpha", scopes=["members:read", "members:write"])
    no_read = make_key("alpha", scopes=["consent:write"])

    assert_problem(
        call(client_a, "POST", path, key=no_consent, body={"purpose": "membership", "granted": False}),
        403,
        "scope_missing",
    )
    assert_problem(call(client_a, "GET", path, key=no_read), 403, "scope_missing")
    assert_problem(
        call(client_b, "POST", path, key=key_b, body={"purpose": "membership", "granted": False}), 404, "not_found"
    )
    assert_problem(call(client_a, "GET", path, key=key_b), 401, "api_key_invalid")
    with schema_context("alpha"):
        assert ConsentState.objects.get(member__member_no=member_no, purpose="membership").granted is True
