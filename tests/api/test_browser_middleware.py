"""Session, CSRF, user and messages middleware: skipped for the partner API, unchanged for the
browser pages."""

import pytest
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.test import Client

from tests.conftest import ADMIN_PASSWORD, brand_admin_email, brand_host

from .conftest import call


@pytest.mark.parametrize(
    "middleware", [SessionMiddleware, CsrfViewMiddleware, AuthenticationMiddleware, MessageMiddleware]
)
def test_only_browser_requests_go_through_them(client_a, key_a, monkeypatch, middleware):
    seen: list[str] = []
    original = middleware.process_request

    def recording(self, request):
        seen.append(request.path)
        return original(self, request)

    monkeypatch.setattr(middleware, "process_request", recording)

    assert call(client_a, "GET", "/api/v1/webhooks", key=key_a).status_code == 200
    assert client_a.get("/admin/login/").status_code == 200

    assert "/admin/login/" in seen  # (the admin's csrf_protect runs CSRF's process_request once more)
    assert "/api/v1/webhooks" not in seen


def test_an_api_request_gets_no_session_or_csrf_cookie(client_a, key_a):
    client_a.cookies.load({"sessionid": "not-a-session", "csrftoken": "x" * 32})

    response = call(client_a, "GET", "/api/v1/webhooks", key=key_a)

    assert response.status_code == 200
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_a_browser_form_posted_without_its_csrf_token_is_still_refused(brand_a):
    client = Client(HTTP_HOST=brand_host("alpha"), enforce_csrf_checks=True)

    response = client.post("/admin/login/", {"username": brand_admin_email("alpha"), "password": ADMIN_PASSWORD})

    assert response.status_code == 403


def test_the_browser_login_still_has_its_session_csrf_and_messages(brand_a):
    client = Client(HTTP_HOST=brand_host("alpha"), enforce_csrf_checks=True)
    form = client.get("/admin/login/")
    token = form.cookies["csrftoken"].value

    response = client.post(
        "/admin/login/",
        {"username": brand_admin_email("alpha"), "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": token},
    )

    assert response.status_code == 302
    assert "sessionid" in response.cookies
    assert client.get("/admin/").status_code == 200
