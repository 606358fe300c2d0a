"""The WSGI application drops the process environment granian copies into every request's environ
(crm/wsgi.py): a database URL in `request.META` is one error report away from being read."""

import os
from typing import Any

import pytest

from crm import wsgi


def _served(monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]) -> dict[str, Any]:
    """What the application behind the wrapper receives for a request built as granian builds it
    (a copy of the process environment, then the request's own keys)."""
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return [b""]

    request = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/healthz",
        "SERVER_NAME": "demo.localhost",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_HOST": "demo.localhost",
        "HTTP_X_FORWARDED_PROTO": "https",
        "wsgi.url_scheme": "http",
    }
    wrapped = wsgi.WithoutProcessEnvironment(app)
    wrapped(dict(os.environ) | request, lambda *a: None)
    return seen


def test_the_process_environment_does_not_reach_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _served(monkeypatch, {"CRM_TEST_DATABASE_URL": "postgres://u:secret@db/crm", "SECRET_KEY": "k" * 50})
    assert "CRM_TEST_DATABASE_URL" not in seen and "SECRET_KEY" not in seen and "PATH" not in seen


def test_the_request_keeps_what_the_server_set_and_its_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even a process variable named like a request key or a header is the request's value.
    seen = _served(monkeypatch, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_PROTO": "http"})
    assert seen["REQUEST_METHOD"] == "GET" and seen["PATH_INFO"] == "/healthz"
    assert seen["REMOTE_ADDR"] == "10.0.0.7" and seen["HTTP_X_FORWARDED_PROTO"] == "https"
    assert seen["HTTP_HOST"] == "demo.localhost" and seen["wsgi.url_scheme"] == "http"


def test_the_served_application_is_the_wrapped_one() -> None:
    assert isinstance(wsgi.application, wsgi.WithoutProcessEnvironment)
