"""The background exports' lists as people see them at 1440 px (session 16 checked their words only
through the test client): 保留至 … on a file still kept, 已过期（文件已于 … 删除）with a link to run it
again, 失败，重新生成 — on the referral graph's exports and the staff performance exports — and the
platform operator's brand page with 导出文件保留天数."""

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.jobs.exports import BackgroundExport
from tests.browser.conftest import SCREENSHOTS, base_url, login
from tests.conftest import OPERATOR
from tests.factories import MemberFactory
from tests.members.loyalty_scene import program

pytestmark = pytest.mark.browser
DESK = {"viewport": {"width": 1440, "height": 900}, "locale": "zh-CN"}


def _expire(model: type[BackgroundExport], pk: int, *, days_ago: int) -> None:
    """What the hourly jobs.exports_expire leaves of a file past its keep days."""
    at = timezone.now() - dt.timedelta(days=days_ago)
    model._default_manager.filter(pk=pk).update(status=BackgroundExport.Status.EXPIRED, content=b"", expired_at=at)


def _fail(model: type[BackgroundExport], pk: int) -> None:
    model._default_manager.filter(pk=pk).update(status=BackgroundExport.Status.FAILED, error="数据库连接中断")


def _one_line_links(page: Any, table: str) -> list[dict[str, Any]]:
    """Each link of the list's download column: its text, whether it wraps, its colour and weight."""
    return page.locator(f"{table} td a").evaluate_all(
        """links => links.map(a => {
            const style = getComputedStyle(a);
            return {text: a.innerText, height: a.getBoundingClientRect().height,
                    lineHeight: parseFloat(style.lineHeight), whiteSpace: style.whiteSpace,
                    color: style.color, weight: style.fontWeight};
        })"""
    )


def _check_links(links: list[dict[str, Any]], texts: set[str]) -> None:
    shown = {link["text"] for link in links}
    assert texts <= shown, shown
    for link in links:
        if link["text"] in texts:
            # One line, in the theme's link colour (primary-600), not the body text's.
            assert link["whiteSpace"] == "nowrap", link
            assert link["height"] < 2 * link["lineHeight"], link
            assert link["color"] not in ("rgb(0, 0, 0)", "rgb(55, 65, 81)", "rgb(107, 114, 128)"), link
            assert int(link["weight"]) >= 500, link


def test_referral_exports_say_how_long_a_file_is_kept_and_offer_to_run_again(
    server: int, live_brand: Any, browser: Any
) -> None:
    from engagement.models import ReferralExport
    from engagement.services.referral_export import referral_export_request, referral_export_run

    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        program()
        MemberFactory.create(name="周小云")
        expired = referral_export_request(actor="admin", full_pi=False, joined_from=dt.date(2026, 1, 1))
        referral_export_run(export_id=expired.pk)
        _expire(ReferralExport, expired.pk, days_ago=2)
        failed = referral_export_request(actor="admin", full_pi=False, file_format=ReferralExport.Format.CSV)
        _fail(ReferralExport, failed.pk)
        kept = referral_export_request(actor="admin", full_pi=False)
        referral_export_run(export_id=kept.pk)
        referral_export_request(actor="admin", full_pi=False)  # still queued

    page = browser.new_context(**DESK).new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    page.goto(f"{url}/admin/engagement/referralexport/")
    page.screenshot(path=SCREENSHOTS / "x1-referral-exports-1440.png", full_page=True)
    text = page.inner_text("#result_list")
    assert "保留至" in text and "文件已于" in text and "排队中" in text, text
    _check_links(_one_line_links(page, "#result_list"), {"下载 XLSX", "已过期，重新生成", "失败，重新生成"})
    # The status cells stay on one line each too (a row per export at 1440 px).
    for cell in page.locator("#result_list td.field-progress").all():
        box = cell.bounding_box()
        assert box is not None and box["height"] < 60, cell.inner_text()
    # 已过期，重新生成 opens the graph with the expired export's criteria filled in.
    page.click("text=已过期，重新生成")
    page.wait_for_load_state()
    assert "joined_from=2026-01-01" in page.url
    page.context.close()


def test_performance_exports_say_how_long_a_file_is_kept_and_offer_to_run_again(
    server: int, live_brand: Any, browser: Any
) -> None:
    from performance.models import ReportExport
    from performance.services import report_export_request, report_export_run

    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        from members.scoping import StoreScope

        scope = StoreScope(all_stores=True, store_id=None)
        end = dt.date(2026, 11, 30)
        expired = report_export_request(scope=scope, start=dt.date(2026, 1, 1), end=end, store_id=None, actor="admin")
        report_export_run(export_id=expired.pk)
        _expire(ReportExport, expired.pk, days_ago=3)
        failed = report_export_request(scope=scope, start=dt.date(2026, 6, 1), end=end, store_id=None, actor="admin")
        _fail(ReportExport, failed.pk)
        kept = report_export_request(scope=scope, start=dt.date(2026, 10, 1), end=end, store_id=None, actor="admin")
        report_export_run(export_id=kept.pk)

    page = browser.new_context(**DESK).new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    page.goto(f"{url}/admin/performance/reportexport/")
    page.screenshot(path=SCREENSHOTS / "x2-performance-exports-1440.png", full_page=True)
    text = page.inner_text("#result_list")
    assert "保留至" in text and "文件已于" in text, text
    _check_links(_one_line_links(page, "#result_list"), {"下载 XLSX", "已过期，重新生成", "失败，重新生成"})
    page.click("text=已过期，重新生成")
    page.wait_for_load_state()
    assert "start=2026-01-01" in page.url and "end=2026-11-30" in page.url
    page.context.close()


def test_the_platform_operator_sets_how_long_a_brands_export_files_are_kept(
    server: int, live_brand: Any, browser: Any
) -> None:
    url = f"http://localhost:{server}"
    page = browser.new_context(**DESK).new_page()
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", OPERATOR[0])
    page.fill("#id_password", OPERATOR[1])
    page.click("[type=submit]")
    page.wait_for_url(f"{url}/admin/")
    page.goto(f"{url}/admin/tenancy/brand/{live_brand.pk}/change/")
    row = page.locator(".field-export_keep_days")
    row.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / "x3-platform-brand-export-keep-days-1440.png", full_page=True)
    assert "导出文件保留天数" in row.inner_text()
    # The rest of the page in Chinese too (django-tenants' own field names are English).
    text = page.inner_text("#content")
    for english in ("Schema name", "Domain", "Is primary", "default"):
        assert english not in text, english
    assert page.locator("#id_export_keep_days").input_value() == "7"
    page.fill("#id_export_keep_days", "30")
    page.click("[name=_continue]")
    page.wait_for_load_state()
    page.screenshot(path=SCREENSHOTS / "x3-platform-brand-saved-1440.png", full_page=True)
    assert page.locator("#id_export_keep_days").input_value() == "30"
    live_brand.refresh_from_db()
    assert live_brand.export_keep_days == 30
    page.context.close()
