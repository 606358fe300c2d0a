"""Staff performance in the back office, as a brand admin sees it: the report with names and yuan,
and the rule page with its what-if preview of last month."""

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import IdentityKind, Member
from members.services.orders import order_post
from tests.browser.conftest import SCREENSHOTS, base_url, login
from tests.factories import IdentityFactory, MemberFactory, StaffFactory, StoreFactory
from tests.members.loyalty_scene import program

pytestmark = pytest.mark.browser


def test_report_and_rule_preview(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    today = timezone.localdate()
    with schema_context(live_brand.schema_name):
        program()
        stores = [StoreFactory.create(name=name) for name in ("上海静安店", "杭州西湖店")]
        staff = [StaffFactory.create(name=name, store=stores[i % 2]) for i, name in enumerate(("张三", "李四", "王五"))]
        for i in range(9):
            member: Member = MemberFactory.create(home_store=stores[i % 2], assigned_staff=staff[i % 3])
            IdentityFactory.create(member=member, kind=IdentityKind.WECHAT_UNIONID, value=f"pb{i}")
            order_post(
                channel="store",
                order_no=f"P{i}",
                paid_at=timezone.now() - dt.timedelta(days=i % 5, hours=1),
                amount_fen=12_580 * (i + 1),
                store=stores[i % 2],
                staff=staff[(i + 1) % 3],
                buyer_kind=IdentityKind.WECHAT_UNIONID,
                buyer_value=f"pb{i}",
                actor="pos",
            )
        last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=15)
        for i in range(3):  # last month's orders: what the rule's what-if preview re-decides
            order_post(
                channel="tmall",
                order_no=f"LM{i}",
                paid_at=timezone.make_aware(dt.datetime.combine(last_month, dt.time(12 + i))),
                amount_fen=19_900 * (i + 1),
                buyer_kind=IdentityKind.WECHAT_UNIONID,
                buyer_value=f"pb{i}",
                actor="shop",
            )
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")

    page.goto(f"{url}/admin/performance/reportexport/report/?start={today - dt.timedelta(days=6)}&end={today}")
    assert page.get_by_text("张三").first.is_visible()
    assert page.get_by_text("¥").first.is_visible()
    page.screenshot(path=SCREENSHOTS / "p1-performance-report.png", full_page=True)

    page.goto(f"{url}/admin/performance/attributionrule/add/")
    page.select_option("#id_first", "exclusive")
    page.select_option("#id_second", "touch")
    page.select_option("#id_third", "")
    page.click("input[name=_preview]")
    page.screenshot(path=SCREENSHOTS / "p2-performance-rule-preview.png", full_page=True)
    assert page.locator("h2", has_text="新规则下上月").is_visible()
    assert page.locator("td", has_text="张三").first.is_visible()  # last month re-decided per staff
    assert page.get_by_role("link", name="业绩报表与导出").is_visible()  # the sidebar leads here

    # The export: asked for on the report page, listed with its progress and a download link.
    page.goto(f"{url}/admin/performance/reportexport/report/?start={today - dt.timedelta(days=100)}&end={today}")
    page.click("input[name=_export]")
    page.wait_for_url("**/admin/performance/reportexport/")
    with schema_context(live_brand.schema_name):  # the task, as a worker would run it
        from performance.models import ReportExport
        from performance.services import report_export_run

        report_export_run(export_id=ReportExport.objects.get().pk)
    page.reload()
    page.screenshot(path=SCREENSHOTS / "p3-performance-exports.png", full_page=True)
    assert page.get_by_text("全部门店").first.is_visible()

    # A staff member's poster: its link and the poster (PNG, crm.posters) to print or send.
    page.goto(f"{url}/admin/performance/sharelink/add/")
    page.screenshot(path=SCREENSHOTS / "p4-performance-share-add.png", full_page=True)
    with schema_context(live_brand.schema_name):
        from performance.services import share_link_create

        poster = share_link_create(staff=staff[0], kind="poster", note="春季上新海报")
    page.goto(f"{url}/admin/performance/sharelink/{poster.pk}/change/")
    page.screenshot(path=SCREENSHOTS / "p5-performance-poster.png", full_page=True)
    qr = page.locator(".perf-share-qr img")
    page.wait_for_load_state("networkidle")
    assert qr.is_visible() and qr.bounding_box()["width"] < 300
    assert page.locator("text=下载海报（PNG，750×1200）").is_visible()
    context.close()
