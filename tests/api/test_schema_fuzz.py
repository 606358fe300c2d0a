"""Every operation of the served schema, on both brands, with hostile input: never a 5xx, every
error is a problem document, and every status is one the schema documents for that operation."""

import json
import re
import uuid
from typing import Any

import pytest

from tests.conftest import brand_host, host_client

from .conftest import ALL_SCOPES, agreements_ensure, call, enrol_body, make_key

BODIES: list[Any] = [
    {},
    [],
    "text",
    0,
    None,
    {"url": None, "events": None},
    {"url": "https://x.example/" + "é" * 400, "events": ["member.enrolled"] * 50},
    {"url": {"nested": [1, 2, {"deep": True}]}, "events": [{"a": 1}]},
    {"url": "https://x.example/h", "events": ["member.enrolled"], "\u0000": "nul"},
    {"url": "javascript:alert(1)", "events": ["member.enrolled"]},
    {"url": "https://x.example/h", "events": [10**40]},
]
PATH_VALUES = ["x", str(uuid.uuid4()), "0", "-1", "9" * 40, "%00", "中文", "a" * 300]
PARAM = re.compile(r"\{([^}]+)\}")


def real_path_values(client: Any, key: str, slug: str) -> dict[str, str]:
    """Path parameters that exist, so hostile bodies reach the validation behind them."""
    member = call(client, "POST", "/api/v1/members", key=key, body=enrol_body(agreements_ensure(slug), 1))
    member_no = json.loads(member.content)["member_no"]
    order = {"channel": "tmall", "order_no": "FUZZ-1", "paid_at": "2026-01-01T10:00:00+08:00", "amount_fen": 100}
    assert call(client, "POST", "/api/v1/orders", key=key, body=order).status_code == 201
    return {"member_no": member_no, "channel": "tmall", "order_no": "FUZZ-1", "request_id": "1"}


def concrete_paths(path: str, real: dict[str, str]) -> list[str]:
    if "{" not in path:
        return [path]
    hostile = [PARAM.sub(value, path) for value in PATH_VALUES]
    return [PARAM.sub(lambda m: real.get(m.group(1), "x"), path), *hostile]


def operations(client: Any) -> list[tuple[str, str, dict[str, Any]]]:
    schema = json.loads(client.get("/api/schema/", headers={"Accept": "application/json"}).content)
    return [
        (path, method.upper(), operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.mark.parametrize("slug", ["alpha", "beta"])
def test_hostile_input_never_yields_a_5xx_or_an_undocumented_status(db, slug, settings):
    settings.API_THROTTLE_RATE = "100000/min"
    client = host_client(brand_host(slug))
    key = make_key(slug, scopes=ALL_SCOPES)
    checked = 0
    real = real_path_values(client, key, slug)
    for path, method, operation in operations(client):
        documented = set(operation["responses"])
        paths = concrete_paths(path, real)
        bodies = BODIES if method in {"POST", "PUT", "PATCH"} else [None]
        for concrete_path in paths:
            for body in bodies:
                for language in ("en", "zh-hans"):
                    kwargs: dict[str, Any] = {
                        "headers": {"Authorization": f"Api-Key {key}", "Accept-Language": language}
                    }
                    if body is not None or method in {"POST", "PUT", "PATCH"}:
                        kwargs.update(data=json.dumps(body), content_type="application/json")
                    response = getattr(client, method.lower())(concrete_path, **kwargs)
                    checked += 1
                    context = f"{method} {concrete_path} {body!r:.80}"
                    assert response.status_code < 500, context
                    assert str(response.status_code) in documented, (context, response.status_code)
                    if response.status_code >= 400:
                        assert response["Content-Type"] == "application/problem+json", context
                        problem = json.loads(response.content)
                        assert problem["status"] == response.status_code
                        assert isinstance(problem["fields"], dict)
    assert checked >= 56  # every operation was exercised
