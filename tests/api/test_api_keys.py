"""API keys: created once in plaintext, stored hashed, scoped, revocable, expiring, and usable
only on their own brand's host."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.api.keys import secret_hash
from crm.api.models import ApiKey, Scope
from crm.api.services import api_key_create, api_key_revoke, api_key_verify
from crm.errors import AppError

from .conftest import assert_problem, call, make_key

WEBHOOKS = "/api/v1/webhooks"


def test_a_created_key_is_stored_only_as_prefix_and_hash(in_brand_a):
    created = api_key_create(partner_name="天猫旗舰店", scopes=["members:read", "webhooks:manage"])

    prefix, secret = created.plaintext.split(".")
    row = ApiKey.objects.get(pk=created.api_key.pk)
    assert row.prefix == prefix
    assert row.secret_hash == secret_hash(secret)
    assert secret not in row.secret_hash
    assert row.partner.name == "天猫旗舰店"
    assert row.scopes == ["members:read", "webhooks:manage"]
    assert api_key_verify(raw_key=created.plaintext).pk == row.pk


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"partner_name": " ", "scopes": ["members:read"]}, "partner"),
        ({"partner_name": "POS", "scopes": []}, "scopes"),
        ({"partner_name": "POS", "scopes": ["members:delete"]}, "scopes"),
        ({"partner_name": "POS", "scopes": ["members:read"], "expires_at": timezone.now()}, "expires_at"),
    ],
)
def test_bad_key_input_is_refused_and_creates_nothing(in_brand_a, kwargs, field):
    with pytest.raises(AppError) as refused:
        api_key_create(**kwargs)

    assert field in refused.value.fields
    assert not ApiKey.objects.exists()


def test_a_key_authenticates_on_its_brand_host(client_a, key_a):
    response = call(client_a, "GET", WEBHOOKS, key=key_a)

    assert response.status_code == 200
    assert json.loads(response.content) == {"results": []}


def test_last_used_is_recorded(client_a, brand_a):
    key = make_key("alpha")

    call(client_a, "GET", WEBHOOKS, key=key)

    with schema_context("alpha"):
        assert ApiKey.objects.get(prefix=key.split(".")[0]).last_used_at is not None


def test_a_key_of_the_other_brand_is_a_clean_401(client_a, client_b, key_a, key_b):
    on_alpha = call(client_a, "GET", WEBHOOKS, key=key_b, language="en")
    on_beta = call(client_b, "GET", WEBHOOKS, key=key_a, language="en")

    for response in (on_alpha, on_beta):
        body = assert_problem(response, 401, "api_key_invalid")
        assert body["detail"] == "The API key is not valid."
        assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Api-Key",
        "Api-Key a b",
        "Api-Key not-a-key",
        "Api-Key abcdefghij.wrong-secret",
        "Bearer abcdefghij.secret",
        "Api-Key ключ",
    ],
)
def test_missing_or_malformed_keys_are_401(client_a, key_a, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = call(client_a, "GET", WEBHOOKS, headers=headers)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["code"] in {"not_authenticated", "api_key_invalid"}


def test_a_wrong_secret_with_a_real_prefix_is_refused(client_a, key_a):
    prefix = key_a.split(".")[0]

    response = call(client_a, "GET", WEBHOOKS, key=f"{prefix}.{'x' * 43}")

    assert_problem(response, 401, "api_key_invalid")


def test_a_revoked_key_is_refused_at_once(client_a, key_a):
    assert call(client_a, "GET", WEBHOOKS, key=key_a).status_code == 200
    with schema_context("alpha"):
        api_key_revoke(api_key_id=ApiKey.objects.get(prefix=key_a.split(".")[0]).pk)

    response = call(client_a, "GET", WEBHOOKS, key=key_a, language="zh-hans")

    body = assert_problem(response, 401, "api_key_revoked")
    assert body["detail"] == "API 密钥已被吊销。"


def test_an_expired_key_is_refused(client_a, brand_a):
    key = make_key("alpha", expires_at=timezone.now() + timedelta(seconds=30))
    assert call(client_a, "GET", WEBHOOKS, key=key).status_code == 200  # remembered by this process now
    with schema_context("alpha"):
        api_key = ApiKey.objects.get(prefix=key.split(".")[0])
        api_key.expires_at = timezone.now() - timedelta(seconds=1)
        api_key.save(update_fields=["expires_at"])

    assert_problem(call(client_a, "GET", WEBHOOKS, key=key), 401, "api_key_expired")


def test_a_key_without_the_scope_is_403_naming_the_scope(client_a, brand_a):
    key = make_key("alpha", scopes=[Scope.MEMBERS_READ, Scope.ORDERS_WRITE])

    response = call(client_a, "GET", WEBHOOKS, key=key, language="en")

    body = assert_problem(response, 403, "scope_missing")
    assert "webhooks:manage" in body["detail"]


def test_create_api_key_command_prints_the_key_once_and_it_works(client_a, brand_a, capsys):
    call_command("create_api_key", schema="alpha", partner="抖音小店", scopes="webhooks:manage,members:read")

    output = capsys.readouterr().out
    plaintext = next(line for line in output.splitlines() if "." in line and " " not in line)
    assert call(client_a, "GET", WEBHOOKS, key=plaintext).status_code == 200
    with schema_context("alpha"):
        row = ApiKey.objects.get(prefix=plaintext.split(".")[0])
    assert row.partner.name == "抖音小店"
    assert row.scopes == ["members:read", "webhooks:manage"]
    assert plaintext.split(".")[1] not in row.secret_hash


@pytest.mark.parametrize(
    "options",
    [
        {"schema": "nosuchbrand", "partner": "POS", "scopes": "members:read"},
        {"schema": "public", "partner": "POS", "scopes": "members:read"},
        {"schema": "alpha", "partner": "POS", "scopes": "members:read,bogus"},
    ],
)
def test_create_api_key_command_refuses_bad_input(brand_a, options):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_key", **options)
    with schema_context("alpha"):
        assert not ApiKey.objects.filter(partner__name="POS").exists()
