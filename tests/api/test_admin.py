"""Brand admin: API keys are created through the service (plaintext shown once in a message),
revoked by an action, listed with filters; the webhook delivery log is visible and read-only."""

import re

from django.contrib.messages import get_messages
from django_tenants.utils import schema_context

from crm.api.models import ApiKey, Partner
from webhooks.models import WebhookDelivery, WebhookSubscription

from .conftest import call, make_key

KEY_PATTERN = re.compile(r"[a-z0-9]{10}\.[A-Za-z0-9_-]{43}")


def test_an_admin_creates_a_key_and_sees_it_once(admin_client_a, client_a):
    response = admin_client_a.post(
        "/admin/api/apikey/add/",
        {
            "partner_name": "微信小程序",
            "scopes": ["members:read", "webhooks:manage"],
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )

    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request)] or [response.content.decode()]
    plaintext = next(match.group(0) for text in shown if (match := KEY_PATTERN.search(text)))
    with schema_context("alpha"):
        row = ApiKey.objects.get(prefix=plaintext.split(".")[0])
    assert row.partner.name == "微信小程序"
    assert row.scopes == ["members:read", "webhooks:manage"]
    assert call(client_a, "GET", "/api/v1/webhooks", key=plaintext).status_code == 200
    # The key's page never shows the secret again.
    detail = admin_client_a.get(f"/admin/api/apikey/{row.pk}/change/").content.decode()
    assert plaintext.split(".")[1] not in detail


def test_the_add_form_refuses_a_key_without_scopes(admin_client_a):
    response = admin_client_a.post(
        "/admin/api/apikey/add/", {"partner_name": "POS", "scopes": [], "expires_at_0": "", "expires_at_1": ""}
    )

    assert response.status_code == 200  # the form again, with errors
    with schema_context("alpha"):
        assert not ApiKey.objects.exists()


def test_an_admin_revokes_keys_with_the_action(admin_client_a, client_a):
    key = make_key("alpha")
    with schema_context("alpha"):
        pk = ApiKey.objects.get(prefix=key.split(".")[0]).pk

    response = admin_client_a.post(
        "/admin/api/apikey/", {"action": "revoke_keys", "_selected_action": [pk]}, follow=True
    )

    assert response.status_code == 200
    with schema_context("alpha"):
        assert ApiKey.objects.get(pk=pk).revoked_at is not None
    assert call(client_a, "GET", "/api/v1/webhooks", key=key).status_code == 401


def test_the_key_list_filters_and_searches(admin_client_a):
    make_key("alpha", partner="京东")
    revoked = make_key("alpha", partner="抖音")
    with schema_context("alpha"):
        ApiKey.objects.filter(prefix=revoked.split(".")[0]).update(revoked_at="2026-01-01T00:00:00Z")

    active = admin_client_a.get("/admin/api/apikey/?state=active").content.decode()
    revoked_list = admin_client_a.get("/admin/api/apikey/?state=revoked").content.decode()
    searched = admin_client_a.get("/admin/api/apikey/?q=京东").content.decode()

    assert "京东" in active and revoked.split(".")[0] not in active
    assert revoked.split(".")[0] in revoked_list
    assert "京东" in searched and revoked.split(".")[0] not in searched


def test_keys_of_one_brand_are_not_in_the_other_brands_admin(admin_client_b):
    key = make_key("alpha", partner="只在阿尔法")

    page = admin_client_b.get("/admin/api/apikey/").content.decode()

    assert key.split(".")[0] not in page
    assert "只在阿尔法" not in page


def test_the_delivery_log_is_visible_and_read_only(admin_client_a):
    with schema_context("alpha"):
        partner = Partner.objects.create(name="日志")
        subscription = WebhookSubscription.objects.create(
            partner=partner, url="https://log.example/h", events=["points.changed"], secret="whsec_x"
        )
        delivery = WebhookDelivery.objects.create(
            subscription=subscription, event="points.changed", payload={}, attempts=2, last_error="HTTP 500: boom"
        )

    listing = admin_client_a.get("/admin/webhooks/webhookdelivery/")
    detail = admin_client_a.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    subscription_page = admin_client_a.get(f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/")

    assert listing.status_code == 200 and "points.changed" in listing.content.decode()
    assert detail.status_code == 200 and "HTTP 500: boom" in detail.content.decode()
    assert "whsec_x" not in subscription_page.content.decode()
    assert admin_client_a.get("/admin/webhooks/webhookdelivery/add/").status_code == 403
