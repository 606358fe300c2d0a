"""The served OpenAPI schema says what the server enforces (issue 21, finding 7): a client generated
from it fails before the server refuses — the Idempotency-Key's format, unknown keys in request
bodies, the bounds of query parameters."""

import json
import re
from typing import Any

import pytest

from crm.api.idempotency import idempotency_key_valid
from tests.conftest import brand_host, host_client

from .conftest import assert_problem, call


@pytest.fixture
def schema(db) -> dict[str, Any]:
    response = host_client(brand_host("alpha")).get("/api/schema/", headers={"Accept": "application/json"})
    return dict(json.loads(response.content))


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node or "allOf" in node:
        if "allOf" in node:
            (node,) = node["allOf"]
        else:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_every_post_declares_the_idempotency_key_format_the_server_checks(schema):
    posts = [(path, item["post"]) for path, item in schema["paths"].items() if "post" in item]
    assert posts
    for path, operation in posts:
        (header,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header" and not header.get("required", False), path
        declared = header["schema"]
        assert (declared["type"], declared["minLength"], declared["maxLength"]) == ("string", 1, 255), path
        pattern = re.compile(declared["pattern"])
        for key in ["a", "order-42", "x" * 255, "~!", "", "x" * 256, "has space", "中文", "tab\t"]:
            schema_says = bool(pattern.search(key)) and 1 <= len(key) <= 255
            assert schema_says == idempotency_key_valid(key), (path, key)


def test_request_bodies_that_refuse_unknown_fields_say_so(schema):
    bodies = []
    for item in schema["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content:
                bodies.append(resolve(schema, content["schema"]))
    assert bodies
    for body in bodies:
        assert body.get("additionalProperties") is False, body
        assert "Base of every input serializer" not in body.get("description", ""), body
    # Nested input objects too (an order's buyer and lines).
    order = resolve(
        schema, schema["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert resolve(schema, order["properties"]["buyer"])["additionalProperties"] is False
    assert resolve(schema, order["properties"]["lines"]["items"])["additionalProperties"] is False


def test_responses_are_not_closed_by_it(schema):
    # Output may grow new fields; only request bodies are closed.
    created = schema["paths"]["/api/v1/orders"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert "additionalProperties" not in resolve(schema, created)


def test_the_page_size_declares_the_bounds_the_server_enforces(schema):
    operation = schema["paths"]["/api/v1/members/{member_no}/points/entries"]["get"]
    (limit,) = [p for p in operation["parameters"] if p["name"] == "limit"]
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    for parameters in (op.get("parameters", []) for item in schema["paths"].values() for op in item.values()):
        for parameter in parameters:
            if parameter["in"] == "query" and parameter["schema"].get("type") == "integer":
                assert {"minimum", "maximum"} <= set(parameter["schema"]), parameter


@pytest.mark.parametrize("value", ["-15", "0", "201", "²", "1.5"])
def test_a_page_size_out_of_bounds_is_a_400(client_a, key_a, enrolled_a, value):
    member_no = enrolled_a(1)

    response = call(client_a, "GET", f"/api/v1/members/{member_no}/points/entries?limit={value}", key=key_a)

    assert "limit" in assert_problem(response, 400, "invalid_input")["fields"]


def test_business_refusals_are_documented_as_the_statuses_they_are(schema):
    create = schema["paths"]["/api/v1/orders"]["post"]["responses"]
    assert "idempotency_in_progress" in create["409"]["description"]
    assert "idempotency_key_reused" in create["422"]["description"]
    assert "business rule" in create["400"]["description"]
    assert "json_too_deep" in create["400"]["description"]
