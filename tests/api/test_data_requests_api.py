"""Partner data-subject requests: queued with a due date, followed up by the partner that filed
them only."""

import json

import pytest
from django_tenants.utils import schema_context

from consent.models import DataRequest

from .conftest import assert_problem, call, make_key

REQUESTS = "/api/v1/data-requests"


def test_a_partner_files_a_correction_and_follows_it_up(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)

    created = call(
        client_a,
        "POST",
        REQUESTS,
        key=key_a,
        body={"member_no": member_no, "kind": "correction", "requested_changes": {"name": "李蕾"}},
    )

    assert created.status_code == 201, created.content
    body = json.loads(created.content)
    assert (body["member_no"], body["kind"], body["status"], body["channel"]) == (
        member_no,
        "correction",
        "pending",
        "partner_api",
    )
    assert body["requested_changes"] == {"name": "李蕾"}
    followed = call(client_a, "GET", created["Location"], key=key_a)
    assert json.loads(followed.content) == body


def test_asking_again_for_a_pending_access_request_returns_it(client_a, key_a, enrolled_a):
    member_no = enrolled_a(1)
    first = call(client_a, "POST", REQUESTS, key=key_a, body={"member_no": member_no, "kind": "access"})
    again = call(client_a, "POST", REQUESTS, key=key_a, body={"member_no": member_no, "kind": "access"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert json.loads(first.content)["id"] == json.loads(again.content)["id"]
    with schema_context("alpha"):
        assert DataRequest.objects.count() == 1
        assert list(DataRequest.objects.get().events.values_list("action", flat=True)) == ["created"]


def test_a_partner_asking_after_someone_else_joins_their_request(client_a, key_a, enrolled_a, brand_a):
    """Another partner asked first: this partner's ask is not a second request, and
    the partner is told (200, not 201) and may follow up the one request — no other partner may."""
    member_no = enrolled_a(1)
    first = call(client_a, "POST", REQUESTS, key=key_a, body={"member_no": member_no, "kind": "deletion"})
    pos = make_key("alpha", partner="POS")

    joined = call(client_a, "POST", REQUESTS, key=pos, body={"member_no": member_no, "kind": "deletion"})
    joined_again = call(client_a, "POST", REQUESTS, key=pos, body={"member_no": member_no, "kind": "deletion"})

    assert (first.status_code, joined.status_code, joined_again.status_code) == (201, 200, 200)
    assert json.loads(joined.content)["id"] == json.loads(first.content)["id"]
    assert call(client_a, "GET", joined["Location"], key=pos).status_code == 200
    assert_problem(call(client_a, "GET", joined["Location"], key=make_key("alpha", partner="小程序")), 404, "not_found")
    with schema_context("alpha"):
        request = DataRequest.objects.get()
        assert [(e.action, e.actor) for e in request.events.all()] == [
            ("created", "api:商城"),
            ("joined", "api:POS"),
        ]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"kind": "access"}, 400, "invalid_input", "member_no"),
        ({"member_no": "M99999999", "kind": "access"}, 404, "not_found", "member_no"),
        ({"member_no": None, "kind": "export"}, 400, "invalid_input", "kind"),
        (
            {"member_no": None, "kind": "correction", "requested_changes": {"mobile": "1"}},
            400,
            "invalid_input",
            "requested_changes.mobile",
        ),
        ({"member_no": None, "kind": "correction"}, 400, "data_request_invalid", "requested_changes"),
        (
            {"member_no": None, "kind": "access", "requested_changes": {"name": "x"}},
            400,
            "invalid_input",
            "requested_changes",
        ),
        ({"member_no": None, "kind": "access", "status": "completed"}, 400, "invalid_input", "status"),
    ],
)
def test_bad_requests_queue_nothing(client_a, key_a, enrolled_a, body, status, code, field):
    member_no = enrolled_a(1)
    if body.get("member_no", "") is None:
        body = {**body, "member_no": member_no}

    problem = assert_problem(call(client_a, "POST", REQUESTS, key=key_a, body=body), status, code)

    assert field in problem["fields"], problem
    with schema_context("alpha"):
        assert not DataRequest.objects.exists()


def test_another_partner_or_brand_cannot_read_it(client_a, client_b, key_a, key_b, enrolled_a, brand_a):
    member_no = enrolled_a(1)
    location = call(client_a, "POST", REQUESTS, key=key_a, body={"member_no": member_no, "kind": "deletion"})[
        "Location"
    ]
    other_partner = make_key("alpha", partner="POS")

    assert_problem(call(client_a, "GET", location, key=other_partner), 404, "not_found")
    assert_problem(call(client_b, "GET", location, key=key_b), 404, "not_found")
    assert_problem(call(client_a, "GET", location, key=key_b), 401, "api_key_invalid")
    for bad in ("x", "0", "-1", "9" * 30):
        assert_problem(call(client_a, "GET", f"{REQUESTS}/{bad}", key=key_a), 404, "not_found")


def test_data_requests_need_their_scope(client_a, enrolled_a, brand_a):
    member_no = enrolled_a(1)
    key = make_key("alpha", scopes=["members:read", "members:write", "consent:write"])
    assert_problem(
        call(client_a, "POST", REQUESTS, key=key, body={"member_no": member_no, "kind": "access"}), 403, "scope_missing"
    )
    assert_problem(call(client_a, "GET", f"{REQUESTS}/1", key=key), 403, "scope_missing")
    with schema_context("alpha"):
        assert not DataRequest.objects.exists()
