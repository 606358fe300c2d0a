"""Partner API test helpers: keys in a brand, JSON requests with a key, problem assertions."""

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from crm.api.models import Scope
from crm.api.services import api_key_create

ALL_SCOPES = list(Scope.values)


def make_key(
    slug: str, *, scopes: list[str] | None = None, partner: str = "商城", expires_at: datetime | None = None
) -> str:
    """A new API key of brand `slug`; returns the plaintext."""
    with schema_context(slug):
        return api_key_create(
            partner_name=partner, scopes=ALL_SCOPES if scopes is None else scopes, expires_at=expires_at
        ).plaintext


def call(
    client: Client,
    method: str,
    path: str,
    *,
    key: str | None = None,
    body: Any = None,
    raw: bytes | str | None = None,
    content_type: str = "application/json",
    language: str | None = None,
    idempotency_key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    all_headers = dict(headers or {})
    if key is not None:
        all_headers["Authorization"] = f"Api-Key {key}"
    if language is not None:
        all_headers["Accept-Language"] = language
    if idempotency_key is not None:
        all_headers["Idempotency-Key"] = idempotency_key
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    kwargs: dict[str, Any] = {"headers": all_headers}
    if data is not None:
        kwargs.update(data=data, content_type=content_type)
    return getattr(client, method.lower())(path, **kwargs)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is an application/problem+json of `status` with `code`; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = json.loads(response.content)
    assert body["code"] == code, body
    assert body["status"] == status
    assert set(body) >= {"type", "title", "status", "code", "detail", "fields"}
    assert body["detail"]
    return body


@pytest.fixture(autouse=True)
def _webhooks_to_local_receivers(settings: Any) -> Iterator[None]:
    """Tests deliver to receivers on 127.0.0.1; the SSRF guard is tested on its own."""
    settings.EGRESS_ALLOW_PRIVATE_HOSTS = True
    yield


class RateClock:
    """The rate limit's clock (crm.api.throttling.clock), standing still until the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


# 2026-01-01 00:00:00 UTC: a minute, an hour and a day all start here.
WINDOW_START = 1_767_225_600.0


@pytest.fixture
def rate_clock(monkeypatch: pytest.MonkeyPatch) -> RateClock:
    """Requests count in the fixed window the test chooses, a quarter second into a minute unless it
    moves the clock: on the wall clock, a test started at hh:mm:59 crossed into the next minute
    half-way and its limit was never reached."""
    from crm.api import throttling

    clock = RateClock(WINDOW_START + 0.25)
    monkeypatch.setattr(throttling, "clock", clock)
    return clock


@pytest.fixture
def key_a(brand_a: Any) -> str:
    return make_key(brand_a.schema_name)


@pytest.fixture
def key_b(brand_b: Any) -> str:
    return make_key(brand_b.schema_name)


# --- partner endpoints: a brand scene built through the services ------------------------------------
MARKETING_PURPOSES = ["marketing_sms", "marketing_wecom"]


def agreements_ensure(slug: str) -> dict[str, int]:
    """Version ids in force in brand `slug`: the template membership agreement every brand has,
    and a marketing agreement published through the consent services (once per brand)."""
    from consent.models import Agreement
    from consent.services import (
        agreement_create,
        agreement_version_draft_save,
        agreement_version_publish,
        membership_version_current,
        purpose_version_current,
    )

    with schema_context(slug):
        membership = membership_version_current()
        assert membership is not None
        marketing = purpose_version_current(purpose="marketing_sms")
        if marketing is None:
            agreement = Agreement.objects.filter(code="marketing").first() or agreement_create(
                code="marketing", kind=Agreement.Kind.MARKETING, title="营销授权"
            )
            draft = agreement_version_draft_save(
                agreement_id=agreement.pk, text="营销授权正文", purposes=MARKETING_PURPOSES, material_change=False
            )
            marketing = agreement_version_publish(version_id=draft.pk, actor="tester")
        return {"membership": membership.pk, "marketing": marketing.pk}


def enrol_body(versions: dict[str, int], n: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"李{n}",
        "mobile": f"1390000{n:04d}",
        "gender": "female",
        "channel": "mini_program",
        "identities": [{"kind": "wechat_unionid", "value": f"union-{n}"}],
        "consents": [
            {"purpose": "membership", "granted": True, "version_id": versions["membership"]},
            {"purpose": "marketing_sms", "granted": False, "version_id": versions["marketing"]},
        ],
        "consent_evidence": {"partner_reference": f"mp-consent-{n}"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def versions_a(brand_a: Any) -> dict[str, int]:
    return agreements_ensure("alpha")


@pytest.fixture
def versions_b(brand_b: Any) -> dict[str, int]:
    return agreements_ensure("beta")


@pytest.fixture
def enrolled_a(client_a: Client, key_a: str, versions_a: dict[str, int]) -> Any:
    """`enrolled_a(n)` enrols member n in brand A through the API and returns its member number."""

    def _enrol(n: int, **overrides: Any) -> str:
        response = call(client_a, "POST", "/api/v1/members", key=key_a, body=enrol_body(versions_a, n, **overrides))
        assert response.status_code == 201, response.content
        return str(json.loads(response.content)["member_no"])

    return _enrol
