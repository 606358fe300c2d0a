"""Every operation of the served schema, on both brands, with hostile input: never a 5xx, every
error is a problem document, and every status is one the schema documents for that operation."""

import json
import uuid
from typing import Any

import pytest

from tests.conftest import brand_host, host_client

from .conftest import ALL_SCOPES, make_key

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
    for path, method, operation in operations(client):
        documented = set(operation["responses"])
        paths = [path.replace("{subscription_id}", value) for value in PATH_VALUES] if "{" in path else [path]
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
