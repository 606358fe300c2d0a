"""The OpenAPI schema and the docs pages, served by each brand host, offline."""

import json
import re

import pytest

from tests.conftest import brand_host, host_client

EXTERNAL_URL = re.compile(r"""(?:https?:)?//(?!{host})[a-z0-9.-]+\.[a-z]{{2,}}""")


PATHS = {
    "/api/v1/webhooks",
    "/api/v1/webhooks/{subscription_id}",
    "/api/v1/members",
    "/api/v1/members/lookup",
    "/api/v1/members/merge",
    "/api/v1/members/{member_no}",
    "/api/v1/members/{member_no}/identities",
    "/api/v1/members/{member_no}/consents",
    "/api/v1/members/{member_no}/points",
    "/api/v1/members/{member_no}/points/entries",
    "/api/v1/members/{member_no}/points/redemptions",
    "/api/v1/members/{member_no}/points/adjustments",
    "/api/v1/members/{member_no}/checkins",
    "/api/v1/members/{member_no}/checkins/makeups",
    "/api/v1/members/{member_no}/referral-link",
    "/api/v1/members/{member_no}/referrals",
    "/api/v1/orders",
    "/api/v1/orders/batch",
    "/api/v1/orders/{channel}/{order_no}/refunds",
    "/api/v1/orders/{channel}/{order_no}/credit",
    "/api/v1/agreements",
    # one item, one code
    "/api/v1/scancodes/verify",
    "/api/v1/scancodes/claims",
    # the member centre (issue 25)
    "/api/v1/member-codes/resolve",
    "/api/v1/member-codes/consume",
    "/api/v1/members/{member_no}/member-centre-link",
    "/api/v1/miniprogram/sessions",
    "/api/v1/me/card",
    "/api/v1/me/orders",
    "/api/v1/me/member-code",
    "/api/v1/me/consents",
    "/api/v1/tiers",
    "/api/v1/rewards",
    "/api/v1/data-requests",
    "/api/v1/data-requests/{request_id}",
    "/api/v1/coupons/validate",
    "/api/v1/coupons/redemptions",
    "/api/v1/coupons/redemptions/{redemption_id}/rollback",
    "/api/v1/members/{member_no}/coupons",
}


def test_every_operation_is_described_with_its_errors_and_auth(db):
    schema = json.loads(
        host_client(brand_host("alpha")).get("/api/schema/", headers={"Accept": "application/json"}).content
    )
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"ApiKeyAuth": []}], (path, method)
            assert {"400", "401", "403", "404", "429"} <= set(operation["responses"]), (path, method)
            assert any(status.startswith("2") for status in operation["responses"]), (path, method)
            if method == "post":
                assert "requestBody" in operation, path
                assert {"409", "413", "415", "422"} <= set(operation["responses"]), path


@pytest.mark.parametrize("slug", ["alpha", "beta"])
def test_each_brand_host_serves_the_same_openapi_schema(db, slug):
    response = host_client(brand_host(slug)).get("/api/schema/", headers={"Accept": "application/json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == PATHS
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }
    assert "Problem" in schema["components"]["schemas"]
    create = schema["paths"]["/api/v1/webhooks"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "429"} <= set(create["responses"])
    assert create["responses"]["429"]["headers"]["Retry-After"]
    assert create["responses"]["400"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    assert create["security"] == [{"ApiKeyAuth": []}]
    # Partners read what each `cause` of a loyalty webhook means from the subscription operation.
    for cause in ("order", "refund", "expiry", "pending_release", "reevaluation", "merge", "campaign_bonus"):
        assert f"`{cause}`" in create["description"]


def test_the_schema_is_identical_for_both_brands(db):
    alpha = host_client(brand_host("alpha")).get("/api/schema/", headers={"Accept": "application/json"})
    beta = host_client(brand_host("beta")).get("/api/schema/", headers={"Accept": "application/json"})

    assert alpha.content == beta.content


@pytest.mark.parametrize(("path", "asset_marker"), [("/api/docs/", "swagger-ui"), ("/api/redoc/", "redoc")])
def test_docs_pages_load_only_local_assets(db, path, asset_marker):
    client = host_client(brand_host("alpha"))

    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html), "external URL in docs page"
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any(asset_marker in asset for asset in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert "/api/schema/" in html


def test_the_docs_are_not_on_the_platform_host(db):
    assert host_client("localhost").get("/api/schema/").status_code == 404
