"""The Content-Security-Policy header (crm/settings/security.py): on the browser pages, with the nonce
their inline <style> blocks carry; not on the partner API. tests/browser/test_csp.py checks that
Chromium reports no violation."""

import re

import pytest

from consent.services.sessions import consent_session_open, consent_session_path
from tests.api.conftest import call, make_key
from tests.conftest import BRAND_A
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_admin_pages_run_no_inline_script_and_nothing_from_elsewhere(client_a):
    policy = client_a.get("/admin/login/")["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    # The theme's Alpine.js needs eval; an inline <script> still needs the page's nonce.
    assert directives["script-src"].split() == ["'self'", "'unsafe-eval'"] or re.fullmatch(
        r"'self' 'nonce-[^']+' 'unsafe-eval'", directives["script-src"]
    )
    # The theme's style="" attributes and its theme-colour <style> (no nonce to carry).
    assert directives["style-src"] == "'self' 'unsafe-inline'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "http" not in policy


def test_member_pages_keep_the_strict_policy(in_brand_a, client_a):
    session = consent_session_open(staff_id=StaffFactory().pk, actor="test")

    policy = client_a.get(consent_session_path(session=session))["Content-Security-Policy"]

    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "http" not in policy


def test_a_member_pages_inline_style_carries_the_nonce_of_its_header(in_brand_a, client_a):
    session = consent_session_open(staff_id=StaffFactory().pk, actor="test")

    response = client_a.get(consent_session_path(session=session))

    header_nonce = re.search(r"style-src 'self' 'nonce-([^']+)'", response["Content-Security-Policy"])
    page_nonce = re.search(r'<style nonce="([^"]+)">', response.content.decode())
    assert header_nonce and page_nonce and header_nonce.group(1) == page_nonce.group(1)


def test_the_partner_api_gets_no_policy(client_a):
    response = call(client_a, "GET", "/api/v1/webhooks", key=make_key(BRAND_A))

    assert response.status_code == 200
    assert "Content-Security-Policy" not in response
