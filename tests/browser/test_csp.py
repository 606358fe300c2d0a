"""The Content-Security-Policy holds on the pages people use (issue 21, finding 7): the server
sends it (crm/settings/security.py) and Chromium reports no violation on the admin login, the lockout
page, the dashboard, a member's page, an in-store consent session with its QR code, the customer's
consent page and preferences page (/m/), and the platform's login, index, brands and periodic
task form. A violation would mean a style or script the page needs is refused in production."""

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from consent.services.links import preference_link_path
from consent.services.sessions import consent_session_open, consent_session_path
from dashboard.services import dashboard_refresh
from dashboard.tasks import refresh as refresh_task
from members.services.stores import staff_ensure, store_ensure
from tests.browser.conftest import PASSWORD, SCREENSHOTS, base_url, login
from tests.campaigns.scenes import consenting_member, marketing_agreement_publish
from tests.clock import brand_today
from tests.conftest import OPERATOR

pytestmark = pytest.mark.browser

# Every violation, as Chromium reports it to the page (the event) and on its console.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


class Watch:
    """A browser context whose pages record CSP violations from both sources."""

    def __init__(self, browser: Any, **options: Any) -> None:
        self.context = browser.new_context(**options)
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.console: list[str] = []
        self.page = self.context.new_page()
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(f"{self.page.url}: {message.text}")

    def visit(self, url: str, shot: str) -> Any:
        response = self.page.goto(url)
        self.check(shot)
        return response

    def check(self, shot: str) -> None:
        self.page.wait_for_load_state("load")
        headers = self.page.evaluate("() => window.__cspViolations")
        assert headers == [], f"{self.page.url}: {headers}"
        assert self.console == [], self.console
        self.page.screenshot(path=SCREENSHOTS / f"csp-{shot}.png", full_page=True)


def test_admin_and_member_pages_render_with_no_csp_violation(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        marketing_agreement_publish()
        member = consenting_member("marketing_sms", name="李小红")
        store = store_ensure(code="SH01", name="上海静安店")
        staff = staff_ensure(store=store, name="王导购", wecom_userid="wang")
        session = consent_session_open(staff_id=staff.pk, actor="test")
        consent_path = consent_session_path(session=session)
        preferences_path = preference_link_path(member_id=member.pk)
        dashboard_refresh()
    admin = f"admin@{live_brand.schema_name}.example"

    # The brand's back office, as its admin
    office = Watch(browser, viewport={"width": 1280, "height": 900})
    response = office.visit(f"{url}/admin/login/", "login")
    policy = response.headers["content-security-policy"]
    # The back office's looser policy (crm/browser_middleware.py): eval for the theme's Alpine.js,
    # inline styles; still no inline script without the nonce and nothing from elsewhere.
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "http" not in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    login(office.page, url, admin)
    office.check("dashboard")
    assert office.page.locator("svg.dash-chart").count() >= 4  # the dashboard is the index
    # The store filter submits on change through the page's nonce'd script (no inline handler)
    office.page.select_option("#dash-store-select", str(store.pk))
    office.page.wait_for_url(re.compile(rf"/admin/\?range=7d&store={store.pk}$"))
    # The date range at 1440 px: a preset, then a custom range through the date pickers; the store
    # stays chosen, and every KPI card of the range carries its 环比.
    office.page.set_viewport_size({"width": 1440, "height": 900})
    office.page.click("#dash-presets [data-range='30d']")
    office.page.wait_for_url(f"**/admin/?store={store.pk}&range=30d")
    office.check("dashboard-30d")
    office.page.click("#dash-presets [data-range='7d']")
    office.page.wait_for_url(f"**/admin/?store={store.pk}&range=7d")
    assert "区间概览 · 近 7 天" in office.page.locator("#dash-range").inner_text()
    office.check("dashboard-7d")
    office.page.screenshot(path=SCREENSHOTS / "dashboard-7d-top-1440.png")
    today = brand_today()
    office.page.fill("#dash-start", f"{today - dt.timedelta(days=13)}")
    office.page.fill("#dash-end", f"{today - dt.timedelta(days=1)}")
    office.page.click("#dash-custom-go")
    office.page.wait_for_url("**range=custom**")
    title = office.page.locator("#dash-range h2").inner_text()
    assert f"{today - dt.timedelta(days=13)} 至 {today - dt.timedelta(days=1)}" in title
    assert office.page.locator("#dash-range [data-change]").count() == 10
    assert office.page.locator("#dash-store-select").input_value() == str(store.pk)
    office.check("dashboard-custom")
    office.page.screenshot(path=SCREENSHOTS / "dashboard-custom-top-1440.png")
    # 刷新: the rebuild is queued, the page says it is computing and polls (htmx, no inline
    # handler); the worker's run (here the task itself) ends it and the page reloads by itself.
    office.page.click("#dash-refresh-go")
    office.page.wait_for_selector("#dash-progress")
    office.check("dashboard-refreshing")
    office.page.screenshot(path=SCREENSHOTS / "dashboard-refreshing-top-1440.png")
    with schema_context(live_brand.schema_name):
        refresh_task()
    office.page.wait_for_selector("#dash-refresh-go", timeout=15_000)
    assert office.page.locator("#dash-progress").count() == 0
    office.check("dashboard-refreshed")
    office.visit(f"{url}/admin/members/member/{member.pk}/change/", "member")
    office.visit(f"{url}/admin/members/member/", "member-list")
    office.visit(f"{url}/admin/consent/consentsession/{session.pk}/change/", "consent-session")
    # The QR code's row is centred by the nonce'd <style> block, not a refused style attribute
    assert office.page.locator(".consent-qr-row").evaluate("e => getComputedStyle(e).textAlign") == "center"
    office.visit(f"{url}/admin/logins/lockedlogin/", "lockouts")
    # The other pages people live in: enrolment, points, import, the campaign builder
    for path, shot in (
        ("/admin/members/member/enrol/", "enrol"),
        (f"/admin/members/member/{member.pk}/adjust-points/", "adjust-points"),
        ("/admin/members/member/import/", "import"),
        ("/admin/campaigns/campaign/add/", "campaign-add"),
    ):
        assert office.visit(f"{url}{path}", shot).status == 200, path
    office.context.close()

    # The customer's phone: the consent page and the preferences page, styled by their nonce'd block
    phone = Watch(browser, viewport={"width": 390, "height": 844})
    phone.visit(f"{url}{consent_path}", "member-consent")
    assert phone.page.evaluate("() => getComputedStyle(document.body).margin") == "0px"
    phone.visit(f"{url}{preferences_path}", "member-preferences")
    assert phone.page.evaluate("() => getComputedStyle(document.body).margin") == "0px"
    phone.context.close()

    # The lockout page is the admin login page too
    attacker = Watch(browser)
    attacker.visit(f"{url}/admin/login/", "attacker")
    for attempt in range(settings.AXES_FAILURE_LIMIT + 1):
        attacker.page.fill("#id_username", admin)
        attacker.page.fill("#id_password", f"wrong-{attempt}")
        attacker.page.click("[type=submit]")
        attacker.page.wait_for_load_state("load")
    attacker.page.fill("#id_password", PASSWORD)
    attacker.page.click("[type=submit]")
    attacker.check("locked-out")
    assert "登录失败次数过多" in attacker.page.locator("#login-locked-out").inner_text()
    attacker.context.close()


def test_the_platform_admin_renders_with_no_csp_violation(server: int, browser: Any) -> None:
    url = f"http://localhost:{server}"
    operator = Watch(browser, viewport={"width": 1280, "height": 900})
    operator.visit(f"{url}/admin/login/", "platform-login")
    operator.page.fill("#id_username", OPERATOR[0])
    operator.page.fill("#id_password", OPERATOR[1])
    operator.page.click("[type=submit]")
    operator.page.wait_for_url(f"{url}/admin/")
    operator.check("platform-index")
    operator.visit(f"{url}/admin/tenancy/brand/", "platform-brands")
    # django-celery-beat's inline script runs with the nonce (it hides the crontab translation row)
    operator.visit(f"{url}/admin/django_celery_beat/periodictask/add/", "platform-periodic-task")
    assert operator.page.locator(".field-crontab_translation").is_hidden()
    operator.context.close()
