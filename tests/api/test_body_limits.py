"""Request bodies at the edges (issue 21, finding 7): JSON nested 2,000 levels deep was a 500, and a
3.26 MB order batch — within the batch endpoint's 4 MiB — was refused 413 by Django's 2.5 MB
in-memory limit with "上限 ? 字节". Both are problems with the real numbers now."""

import json
from typing import Any

import pytest
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django_tenants.utils import schema_context

from crm.api.exceptions import problem_exception_handler
from crm.api.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from members.apis import ORDERS_BATCH_BODY_BYTES
from members.models import Order

from .conftest import assert_problem, call

BATCH = "/api/v1/orders/batch"
WEBHOOKS = "/api/v1/webhooks"


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def big_batch(lines_per_order: int) -> dict[str, Any]:
    """500 orders of tourists (no member needed), each with `lines_per_order` long lines."""
    line = {"sku": "SKU-1", "name": "咖啡豆" * 40 + "x" * 5, "quantity": 1, "amount_fen": 100}
    return {
        "orders": [
            {
                "channel": "tmall",
                "order_no": f"TM-{n}",
                "paid_at": "2026-01-05T10:00:00+08:00",
                "amount_fen": 100 * lines_per_order,
                "lines": [line] * lines_per_order,
            }
            for n in range(500)
        ]
    }


# --- nesting ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_json_nested_2000_levels_is_a_400_naming_the_limit(client_a, key_a, language):
    response = call(client_a, "POST", WEBHOOKS, key=key_a, raw=nested(2000), language=language)

    problem = assert_problem(response, 400, "json_too_deep")
    assert str(MAX_JSON_DEPTH) in problem["detail"]


def test_deep_nesting_is_refused_before_authentication_matters(client_a):
    # Parsing happens after authentication, so without a key it is a 401, never a 500.
    assert call(client_a, "POST", WEBHOOKS, raw=nested(100_000)).status_code == 401


def test_the_depth_limit_is_exact_and_brackets_in_strings_do_not_count():
    assert not json_depth_exceeds(nested(MAX_JSON_DEPTH))
    assert json_depth_exceeds(nested(MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds(json.dumps({"a": "[[[[{{{{" * 1000, "b": ['\\"[[['] * 100}))
    # Alternating arrays and objects, the shape a real body has.
    deep = "1"
    for level in range(MAX_JSON_DEPTH + 1):
        deep = f'{{"k": {deep}}}' if level % 2 else f"[{deep}, 2]"
    assert json_depth_exceeds(deep)
    # Malformed but shallow: the parser, not the depth check, says what is wrong.
    assert not json_depth_exceeds("[" * 5 + "}" * 40)


def test_a_normal_body_still_parses(client_a, key_a):
    body = {"url": "https://partner.example/hooks", "events": ["member.enrolled"]}
    assert call(client_a, "POST", WEBHOOKS, key=key_a, body=body).status_code == 201


# --- the batch body limit --------------------------------------------------------------------------
@pytest.mark.parametrize("idempotency_key", [None, "batch-1"])
def test_a_3_26_mb_batch_within_the_documented_4_mib_is_accepted(client_a, key_a, idempotency_key):
    body = json.dumps(big_batch(lines_per_order=8))
    assert 3_200_000 < len(body.encode()) < ORDERS_BATCH_BODY_BYTES, len(body.encode())

    response = call(client_a, "POST", BATCH, key=key_a, raw=body, idempotency_key=idempotency_key)

    assert response.status_code == 200, response.content[:500]
    assert json.loads(response.content)["created"] == 500


@pytest.mark.parametrize(
    ("language", "words"), [("zh-hans", ["4194304 字节", "4 MiB"]), ("en", ["4194304 bytes", "4 MiB"])]
)
def test_a_batch_over_4_mib_is_a_413_naming_the_limit(client_a, key_a, language, words):
    body = json.dumps(big_batch(lines_per_order=11))
    assert len(body.encode()) > ORDERS_BATCH_BODY_BYTES

    response = call(client_a, "POST", BATCH, key=key_a, raw=body, language=language, idempotency_key="big-1")

    problem = assert_problem(response, 413, "body_too_large")
    assert "?" not in problem["detail"]
    for word in words:
        assert word in problem["detail"]
    with schema_context("alpha"):
        assert Order.objects.count() == 0
    connection.set_schema_to_public()


def test_djangos_own_body_limit_is_answered_with_its_number(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

    response = problem_exception_handler(RequestDataTooBig("too big"), {})

    assert response.status_code == 413
    assert "2621440" in response.data["detail"] and "2.5 MiB" in response.data["detail"]
