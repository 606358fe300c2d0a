"""The plumbing every endpoint inherits from BrandApiView: problem+json errors in both languages,
strict input, method/path errors, rate limit per key, body and batch caps. None of it is a 500."""

import json

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.api.views import BrandApiView
from crm.errors import AppError
from crm.settings.cache import cache_config
from tests.conftest import BRAND_A
from webhooks.models import WebhookSubscription

from .conftest import assert_problem, call, make_key

WEBHOOKS = "/api/v1/webhooks"
GOOD = {"url": "https://partner.example/hooks", "events": ["member.enrolled"]}


def subscriptions(slug: str = "alpha") -> int:
    with schema_context(slug):
        return WebhookSubscription.objects.count()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["member.enrolled"]}, "url"),
        ({"url": "not a url", "events": ["member.enrolled"]}, "url"),
        ({"url": "https://partner.example/hooks", "events": []}, "events"),
        ({"url": "https://partner.example/hooks", "events": ["order.created"]}, "events.0"),
        ({"url": "https://partner.example/hooks", "events": "member.enrolled"}, "events"),
        ({**GOOD, "secret": "mine"}, "secret"),
        ({**GOOD, "id": "8c1b0c52-8d1c-4b8e-9d7e-2b0a3c4d5e6f"}, "id"),
        ({**GOOD, "colour": "blue"}, "colour"),
    ],
)
def test_invalid_fields_are_400_with_field_errors_and_change_nothing(client_a, key_a, body, field):
    response = call(client_a, "POST", WEBHOOKS, key=key_a, body=body, language="en")

    problem = assert_problem(response, 400, "invalid_input")
    assert field in problem["fields"], problem
    assert subscriptions() == 0


def test_unknown_and_read_only_fields_are_named_in_both_languages(client_a, key_a):
    body = {**GOOD, "colour": "blue", "created_at": "2026-01-01T00:00:00Z"}

    english = assert_problem(
        call(client_a, "POST", WEBHOOKS, key=key_a, body=body, language="en"), 400, "invalid_input"
    )
    chinese = assert_problem(
        call(client_a, "POST", WEBHOOKS, key=key_a, body=body, language="zh-hans"), 400, "invalid_input"
    )

    assert english["fields"]["colour"] == ["Unknown field."]
    assert chinese["fields"]["colour"] == ["未知字段。"]
    assert english["detail"] == "The request has invalid fields; see `fields`."
    assert chinese["detail"] == "请求参数有误，请查看 fields。"
    assert english["title"] == "Bad request"
    assert chinese["title"] == "请求有误"
    # created_at is not part of the input at all: unknown, not silently accepted.
    assert "created_at" in english["fields"]
    assert subscriptions() == 0


def test_an_unsupported_accept_language_falls_back_to_chinese(client_a, key_a):
    body = assert_problem(call(client_a, "POST", WEBHOOKS, key=key_a, body={}, language="fr"), 400, "invalid_input")

    assert body["detail"] == "请求参数有误，请查看 fields。"


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_body"),
        (
            '{"url": "https://partner.example/hooks", "events": ["member.enrolled"]',
            "application/json",
            400,
            "malformed_body",
        ),
        (b"\xff\xfe\x00", "application/json", 400, "malformed_body"),
        ("url=https://partner.example", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("<xml/>", "text/xml", 415, "unsupported_media_type"),
        ("[1, 2, 3]", "application/json", 400, "invalid_input"),
        ("null", "application/json", 400, "invalid_input"),
        ('"text"', "application/json", 400, "invalid_input"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_4xx(client_a, key_a, raw, content_type, status, code):
    response = call(client_a, "POST", WEBHOOKS, key=key_a, raw=raw, content_type=content_type)

    assert_problem(response, status, code)
    assert subscriptions() == 0


def test_an_unsupported_method_is_405_before_authentication(client_a):
    response = call(client_a, "PUT", WEBHOOKS, body=GOOD)

    assert_problem(response, 405, "method_not_allowed")


def test_options_is_not_served(client_a, key_a):
    assert_problem(call(client_a, "OPTIONS", WEBHOOKS, key=key_a), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/webhooks/", "/api/v1/members/M1/unknown"])
def test_unknown_api_paths_are_problem_404(client_a, path):
    assert_problem(call(client_a, "GET", path), 404, "not_found")
    assert_problem(call(client_a, "POST", path, body={}), 404, "not_found")


def test_a_request_for_a_non_json_response_is_406(client_a, key_a):
    response = call(client_a, "GET", WEBHOOKS, key=key_a, headers={"Accept": "text/html"})

    assert_problem(response, 406, "not_acceptable")


@pytest.mark.parametrize(
    ("accept", "query"),
    [
        (None, ""),
        ("", ""),
        ("*/*", ""),
        ("application/json", ""),
        ("application/json; indent=4", ""),
        ("application/*", ""),
        ("text/html", ""),
        ("application/json", "format=json"),
        ("application/json", "format=xml"),
    ],
)
def test_the_plain_accept_shortcut_negotiates_as_drf_does(accept, query):
    from rest_framework.negotiation import DefaultContentNegotiation
    from rest_framework.renderers import JSONRenderer
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from crm.api.views import JsonNegotiation

    def negotiate(negotiation: DefaultContentNegotiation) -> object:
        headers = {} if accept is None else {"HTTP_ACCEPT": accept}
        request = Request(APIRequestFactory().get(f"/?{query}" if query else "/", **headers))
        try:
            renderer, media_type = negotiation.select_renderer(request, [JSONRenderer()])
        except Exception as exc:  # the refusal itself is what is compared
            return type(exc)
        return type(renderer), media_type

    assert negotiate(JsonNegotiation()) == negotiate(DefaultContentNegotiation())


def test_the_api_does_not_exist_on_the_platform_host(db):
    from tests.conftest import host_client

    response = host_client("localhost").get(WEBHOOKS)

    assert response.status_code == 404


def test_the_rate_limit_is_per_key_with_retry_after(client_a, brand_a, settings, rate_clock):
    settings.API_THROTTLE_RATE = "3/min"
    key, other_key = make_key("alpha"), make_key("alpha", partner="POS")

    statuses = [call(client_a, "GET", WEBHOOKS, key=key).status_code for _ in range(3)]
    throttled = call(client_a, "GET", WEBHOOKS, key=key, language="en")

    assert statuses == [200, 200, 200]
    body = assert_problem(throttled, 429, "throttled")
    assert throttled["Retry-After"] == "60"  # 59.75 s left in the minute, rounded up
    assert throttled["Retry-After"] in body["detail"]
    assert call(client_a, "GET", WEBHOOKS, key=other_key).status_code == 200


def test_the_limit_holds_to_a_windows_last_second_and_the_next_window_starts_afresh(
    client_a, brand_a, settings, rate_clock
):
    settings.API_THROTTLE_RATE = "3/min"
    key = make_key("alpha")
    rate_clock.step(59.0)  # hh:mm:59.25

    statuses = [call(client_a, "GET", WEBHOOKS, key=key).status_code for _ in range(4)]
    retry_after = call(client_a, "GET", WEBHOOKS, key=key)["Retry-After"]
    rate_clock.step(1.0)  # the next minute's 00.25
    next_window = [call(client_a, "GET", WEBHOOKS, key=key).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert retry_after == "1"  # 0.75 s left, rounded up
    assert next_window == [200, 200, 200, 429]


def test_the_rate_limit_of_one_brand_does_not_count_against_another(
    client_a, client_b, brand_a, brand_b, settings, rate_clock
):
    settings.API_THROTTLE_RATE = "2/min"
    key_alpha, key_beta = make_key("alpha"), make_key("beta")

    for _ in range(2):
        call(client_a, "GET", WEBHOOKS, key=key_alpha)

    assert call(client_a, "GET", WEBHOOKS, key=key_alpha).status_code == 429
    assert call(client_b, "GET", WEBHOOKS, key=key_beta).status_code == 200


def test_a_body_over_the_cap_is_413_and_changes_nothing(client_a, key_a, settings):
    settings.API_MAX_BODY_BYTES = 200
    body = {**GOOD, "url": "https://partner.example/" + "x" * 300}

    response = call(client_a, "POST", WEBHOOKS, key=key_a, body=body, language="en")

    problem = assert_problem(response, 413, "body_too_large")
    assert "200" in problem["detail"]
    assert subscriptions() == 0


def test_a_body_over_the_cap_is_refused_even_without_a_key(client_a, settings):
    settings.API_MAX_BODY_BYTES = 50

    assert_problem(call(client_a, "POST", WEBHOOKS, raw="x" * 100), 413, "body_too_large")


def test_batches_over_the_cap_are_400_and_non_lists_are_refused(client_a, key_a):
    view = BrandApiView()

    assert view.check_batch([1] * 500) == [1] * 500
    with pytest.raises(AppError) as too_many:
        view.check_batch([1] * 501)
    with pytest.raises(AppError) as not_a_list:
        view.check_batch({"a": 1}, field="orders")
    with pytest.raises(AppError) as empty:
        view.check_batch([])

    assert (too_many.value.code, too_many.value.status) == ("batch_too_large", 400)
    assert "items" in too_many.value.fields
    assert (not_a_list.value.code, not_a_list.value.status, list(not_a_list.value.fields)) == (
        "invalid_input",
        400,
        ["orders"],
    )
    assert empty.value.code == "invalid_input"


def test_a_view_without_a_declared_scope_is_closed(client_a, key_a):
    from crm.api.permissions import HasRequiredScope

    class Undeclared(BrandApiView):
        required_scopes = {}

    class FakeRequest:
        method = "GET"
        auth = None

    from crm.api.models import ApiKey

    with schema_context("alpha"):
        FakeRequest.auth = ApiKey.objects.get(prefix=key_a.split(".")[0])
    with pytest.raises(AppError) as refused:
        HasRequiredScope().has_permission(FakeRequest(), Undeclared())
    assert refused.value.status == 403


def test_problem_bodies_are_json_objects_with_fields(client_a):
    response = call(client_a, "GET", WEBHOOKS, language="en")

    body = json.loads(response.content)
    assert body["fields"] == {}
    assert body["type"] == "about:blank"
    assert body["title"] == "Unauthorized"


@pytest.mark.parametrize("path", ["/api/v1/members/merge", "/api/v1/members/lookup"])
def test_literal_paths_beside_a_member_number_answer_member_methods_as_an_unknown_member(client_a, key_a, path):
    """`merge` reads like a member number: GET/PATCH on it answer as /members/{member_no} documents
    for an unknown number (found by schemathesis as an undocumented 405)."""
    assert_problem(call(client_a, "PATCH", path, key=key_a, body={"name": "x"}), 404, "not_found")
    assert_problem(call(client_a, "PATCH", path, body={"name": "x"}), 401, "not_authenticated")
    assert_problem(call(client_a, "PUT", path, key=key_a, body={}), 405, "method_not_allowed")
    if path.endswith("merge"):
        assert_problem(call(client_a, "GET", path, key=key_a), 404, "not_found")


@pytest.fixture(params=["database", "redis"])
def counter_cache(request, settings) -> str:
    """Each cache the partner API may count on: a bare set-up's database cache, and production's
    Redis (on the database-cache path, the private one tests/conftest.py starts)."""
    if request.param == "redis":
        request.getfixturevalue("redis_cache")
    elif settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        settings.CACHES = {
            **settings.CACHES,
            "default": cache_config(),
        }
    return request.param


def seconds_to_live(backend: str, key: str) -> float:
    """How long the cache will keep `key` (as window_count names it, before the cache's prefix)."""
    from crm.redis_cache import cache_key, cache_redis

    if backend == "redis":
        client = cache_redis()
        assert client is not None
        return float(client.ttl(cache_key(key)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT expires FROM crm_cache WHERE cache_key = %s", [cache_key(key)])
        (expires,) = cursor.fetchone()
    return (expires - timezone.now()).total_seconds()


def test_a_rate_limit_counter_counts_once_per_call_and_expires_with_its_window(brand_a, counter_cache):
    from crm.api.throttling import window_count

    with schema_context(BRAND_A):
        minute = [window_count("api:throttle:test:60:1", timeout=61) for _ in range(3)]
        hour = [window_count("api:throttle:test:3600:1", timeout=3601) for _ in range(3)]

        # Neither outlives its window by more than the second of slack, nor ends before it.
        assert 59 < seconds_to_live(counter_cache, "api:throttle:test:60:1") <= 61
        assert 3599 < seconds_to_live(counter_cache, "api:throttle:test:3600:1") <= 3601
    assert minute == hour == [1, 2, 3]


def test_counts_unless_at_limit_check_the_limits_and_count_only_below_them(brand_a, counter_cache):
    """The scan-code claim's one step (session 17): the wrong-secret counters below their limits,
    then this claim counted for the hour; at a limit nothing is counted."""
    from crm.api.throttling import window_count, window_counts_unless_at_limit

    with schema_context(BRAND_A):
        limits = {"t:fail:ip": 2, "t:fail:serial": 3}
        assert window_counts_unless_at_limit(limits, ["t:ip", "t:device"], timeout=3600) == [1, 1]
        assert window_counts_unless_at_limit(limits, [], timeout=3600) == []
        window_count("t:fail:serial", timeout=900)
        window_count("t:fail:serial", timeout=900)
        assert window_counts_unless_at_limit(limits, ["t:ip", "t:device"], timeout=3600) == [2, 2]
        window_count("t:fail:serial", timeout=900)  # the serial's third failure: at its limit
        assert window_counts_unless_at_limit(limits, ["t:ip", "t:device"], timeout=3600) is None
        assert window_count("t:ip", timeout=3600) == 3  # not counted while limited
        assert 3599 < seconds_to_live(counter_cache, "t:ip") <= 3600
