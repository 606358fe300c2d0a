"""The back office of staff performance: the rule with its what-if preview, the report and its
background export (store-scoped, downloadable), and the order page saying who got the credit."""

import datetime as dt
import io

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from members.models import Order
from members.roles import STORE_MANAGER
from performance.models import AttributionRule, ReportExport
from performance.services import report_export_run
from tests.conftest import logged_in_client
from tests.factories import StaffFactory, StoreFactory
from tests.members.conftest import staff_user_create
from tests.members.loyalty_scene import ago, member_with_unionid, program
from tests.members.test_orders import post


@pytest.fixture
def scene(in_brand_a):
    program()
    north, south = StoreFactory(name="北店", code="N01"), StoreFactory(name="南店", code="S01")
    zhang, wang = StaffFactory(name="张三", store=north), StaffFactory(name="王五", store=south)
    member_with_unionid("u-1")
    post("N1", 10_000, "u-1", channel="store", store=north, staff=zhang, paid_at=ago(days=1))
    post("S1", 30_000, "u-1", channel="store", store=south, staff=wang, paid_at=ago(days=1))
    staff_user_create(store=north, role=STORE_MANAGER, username="manager@alpha.example")
    return north, south


def _period() -> dict[str, str]:
    today = timezone.localdate()
    return {"start": (today - dt.timedelta(days=6)).isoformat(), "end": today.isoformat()}


def test_rule_preview_then_save_a_new_version(scene, admin_client_a, brand_a):
    url = reverse("admin:performance_attributionrule_add")
    versions = AttributionRule.objects.count()

    page = admin_client_a.get(url)
    preview = admin_client_a.post(url, {"first": "exclusive", "window_coupon": "30", "_preview": "1"})
    saved = admin_client_a.post(url, {"first": "touch", "second": "exclusive", "window_coupon": "30", "_save": "1"})

    assert page.status_code == 200 and "设置业绩归属规则" in page.content.decode()
    assert preview.status_code == 200 and "新规则下上月" in preview.content.decode()
    assert saved.status_code == 302
    connection.set_tenant(brand_a)
    assert AttributionRule.objects.count() == versions + 1
    assert AttributionRule.objects.order_by("-id").first().precedence == ["touch", "exclusive"]


def test_report_page_brand_admin_sees_all_store_manager_their_store(scene, admin_client_a, brand_a):
    url = reverse("admin:performance_report")

    everyone = admin_client_a.get(url, _period()).content.decode()
    manager = logged_in_client("alpha", "manager@alpha.example").get(url, _period()).content.decode()

    assert "张三" in everyone and "王五" in everyone and "¥300.00" in everyone
    assert "张三" in manager and "¥100.00" in manager and "王五" not in manager


def test_export_in_the_background_scoped_with_progress_and_download(scene, brand_a):
    north, _ = scene
    client = logged_in_client("alpha", "manager@alpha.example")

    response = client.post(reverse("admin:performance_report"), {**_period(), "_export": "1"})

    assert response.status_code == 302
    connection.set_tenant(brand_a)
    export = ReportExport.objects.get()
    assert export.store_id == north.pk and not export.all_stores  # their store, whatever they asked
    report_export_run(export_id=export.pk)
    assert report_export_run(export_id=export.pk) == "already taken"  # a re-delivered task
    export.refresh_from_db()
    assert (export.status, export.progress_pct) == (ReportExport.Status.DONE, 100)
    listing = client.get(reverse("admin:performance_reportexport_changelist")).content.decode()
    assert "已完成" in listing and "下载 XLSX" in listing
    download = client.get(reverse("admin:performance_reportexport_download", args=[export.pk]))
    sheet = load_workbook(io.BytesIO(download.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][2] == "导购" and [r[2] for r in rows[1:]] == ["张三"]
    assert float(rows[1][6]) == 100.0


def test_order_page_says_who_got_the_credit_and_why(scene, admin_client_a, brand_a):
    order = Order.objects.get(order_no="N1")

    page = admin_client_a.get(reverse("admin:members_order_change", args=[order.pk])).content.decode()
    listing = admin_client_a.get(reverse("admin:members_order_changelist")).content.decode()

    assert "服务导购 张三（门店订单的服务导购）" in page
    assert "服务导购 王五（门店订单的服务导购）" in listing


def test_a_staff_poster_is_the_shared_png_with_the_share_link(admin_client_a, in_brand_a):
    # The same drawing as the member's 邀请有礼 poster (crm.posters), opened from the link's page.
    from performance.models import ShareLink
    from performance.services import share_link_create
    from tests.factories import StaffFactory

    link = share_link_create(staff=StaffFactory(name="王芳"), kind=ShareLink.Kind.POSTER, note="秋季新品")
    page = admin_client_a.get(f"/admin/performance/sharelink/{link.pk}/change/").content.decode()
    assert f"/admin/performance/sharelink/{link.pk}/poster.png" in page and "下载海报" in page
    poster = admin_client_a.get(f"/admin/performance/sharelink/{link.pk}/poster.png")
    assert poster.status_code == 200 and poster["Content-Type"] == "image/png"
    assert poster.content.startswith(b"\x89PNG")
    assert admin_client_a.get("/admin/performance/sharelink/999999/poster.png").status_code == 404
