"""The dashboard through the brand admin: first screen, store scoping, brand isolation, exports,
and a query count that does not grow with the data."""

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tenants.utils import schema_context
from openpyxl import load_workbook

from crm.db import connection
from dashboard.selectors import PENDING_KEY, PROGRESS_KEY
from dashboard.services import dashboard_refresh
from dashboard.tables import TABLE_SECTIONS
from dashboard.tasks import refresh as refresh_task
from members.models import IdentityKind, SalesChannel
from members.services.orders import order_post
from tests.clock import SHANGHAI
from tests.conftest import BRAND_A, brand_admin_email, brand_host, logged_in_client
from tests.factories import IdentityFactory, MemberFactory, StaffFactory, StoreFactory
from tests.members.conftest import staff_user_create


def members_and_orders(*, prefix: str, home: int, other: int) -> tuple[Any, Any]:
    """`home` members of store 1 and `other` of store 2, each with one store order today."""
    store_1, store_2 = StoreFactory.create(code="P1", name="一店"), StoreFactory.create(code="P2", name="二店")
    staff_2 = StaffFactory.create(store=store_2, wecom_userid=f"{prefix}-s2")
    now = dt.datetime.now(tz=dt.UTC)
    for n in range(home + other):
        store = store_1 if n < home else store_2
        member = MemberFactory.create(home_store=store, assigned_staff=staff_2 if n >= home else None)
        IdentityFactory.create(member=member, kind=IdentityKind.MOBILE, value=member.mobile)
        order_post(
            channel=SalesChannel.STORE,
            order_no=f"{prefix}{n}",
            paid_at=now,
            amount_fen=10_000,
            store=store,
            buyer_kind=IdentityKind.MOBILE,
            buyer_value=member.mobile,
            actor="test",
        )
    order_post(
        channel=SalesChannel.STORE,
        order_no=f"{prefix}-tourist",
        paid_at=now,
        amount_fen=5_000,
        store=store_1,
        actor="t",
    )
    return store_1, store_2


def figure(html: str, key: str) -> str:
    match = re.search(rf'data-figure="{key}">(?:<a href="[^"]*">)?([^<]*)<', html)
    assert match, key
    return match.group(1)


@pytest.fixture
def scene_a(in_brand_a: Any) -> Any:
    stores = members_and_orders(prefix="A", home=6, other=3)
    staff_user_create(store=stores[0], role="门店导购", username="store-one")
    dashboard_refresh()
    connection.set_schema_to_public()
    return stores


def test_first_screen_is_the_dashboard_with_charts_links_and_the_app_list(scene_a: Any, admin_client_a: Client) -> None:
    response = admin_client_a.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="dashboard"' in html and "会员交易占比" in html and "AIPL 漏斗" in html
    assert figure(html, "members-1") == "9"
    assert "<svg" in html and "dashboard/dashboard.css" in html
    # Charts and styles are local: nothing is fetched from another host.
    assert not re.search(r'(src|href)="https?://', html)
    # The figure links to the member list behind it, and the app list is still there.
    assert "/admin/members/member/?status__in=active%2Cfrozen" in html
    assert "功能菜单" in html and "/admin/members/member/" in html
    # Today: 9 member orders out of 10.
    assert figure(html, "capture-1") == "90"


def test_store_staff_see_their_store_only(scene_a: Any) -> None:
    client = logged_in_client(BRAND_A, "store-one")
    # Store roles land on their workbench; their store's dashboard is one link away.
    assert client.get("/admin/")["Location"] == "/admin/workbench/"
    html = client.get("/admin/?view=dashboard").content.decode()
    assert figure(html, "members-1") == "6"
    # Capture rate of orders at their store: 6 member orders and the tourist's.
    assert figure(html, "capture-1") == "85.71"
    assert 'id="dash-campaigns"' not in html
    # Consent state and record lists are not open to store roles: the figures are shown without a
    # link (their consent-session list is, so the consent app itself may appear in the menu).
    assert "/admin/consent/consentstate/" not in html and "/admin/consent/consentrecord/" not in html
    rows = list(csv.reader(io.StringIO(client.get(export_url("members_tiers", "csv")).content.decode("utf-8-sig"))))
    assert sum(int(row[1]) for row in rows[1:]) == 6


def test_a_brand_admin_narrows_the_dashboard_to_one_store(scene_a: Any, admin_client_a: Client) -> None:
    """?store=<id>: the brand admin sees exactly the store user's figures (same scope), and the
    exports follow; a store user's ?store= is ignored (they stay on their own store)."""
    store_1, store_2 = scene_a
    html = admin_client_a.get(f"/admin/?store={store_1.pk}").content.decode()
    assert figure(html, "members-1") == "6" and figure(html, "capture-1") == "85.71"
    assert f'<option value="{store_1.pk}" selected>一店</option>' in html
    assert f"?store={store_1.pk}&amp;range=7d" in html  # export links keep the store and the range
    export = admin_client_a.get(export_url("members_tiers", "csv") + f"?store={store_2.pk}")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert sum(int(row[1]) for row in rows[1:]) == 3
    # An unknown store falls back to the whole brand.
    assert figure(admin_client_a.get("/admin/?store=999999").content.decode(), "members-1") == "9"
    store_user = logged_in_client(BRAND_A, "store-one")
    html = store_user.get(f"/admin/?view=dashboard&store={store_2.pk}").content.decode()
    assert figure(html, "members-1") == "6" and 'id="dash-store"' not in html


def test_brands_are_isolated(scene_a: Any, admin_client_b: Client) -> None:
    html = admin_client_b.get("/admin/").content.decode()
    assert figure(html, "members-1") == "0"
    assert "一店" not in html


def export_url(key: str, fmt: str) -> str:
    with schema_context(BRAND_A):
        return reverse("admin:dashboard_export", args=[key, fmt])


def test_every_table_exports_as_csv_and_xlsx(scene_a: Any, admin_client_a: Client) -> None:
    for key in TABLE_SECTIONS:
        response = admin_client_a.get(export_url(key, "csv"))
        assert response.status_code == 200, key
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0], key
        xlsx = admin_client_a.get(export_url(key, "xlsx"))
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None, key
        assert next([str(c) if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)) == rows[0]
    tiers = list(
        csv.reader(io.StringIO(admin_client_a.get(export_url("members_tiers", "csv")).content.decode("utf-8-sig")))
    )
    assert sum(int(row[1]) for row in tiers[1:]) == 9
    assert admin_client_a.get(export_url("nope", "csv")).status_code == 404
    assert Client(HTTP_HOST=brand_host(BRAND_A)).get(export_url("staff", "csv")).status_code == 302


def page_queries(client: Client) -> int:
    # Each measured request starts from the same connection state: a request on the brand the
    # connection is already on skips its `SET search_path` (crm.tenancy.middleware).
    connection.set_schema_to_public()
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    # The cache's own reads (the refresh's "computing" flag, sessions) are SQL only on the database
    # cache of a bare set-up (the README's test command); production's Redis sends none. Counted
    # here: the page's own statements, the same on both.
    table = settings.CACHES["default"].get("LOCATION", "")
    return sum(1 for query in queries if not (table and f'"{table}"' in query["sql"]))


def test_page_queries_do_not_grow_with_the_data(in_brand_a: Any) -> None:
    members_and_orders(prefix="Q", home=2, other=1)
    dashboard_refresh()
    connection.set_schema_to_public()
    client = logged_in_client(BRAND_A, brand_admin_email(BRAND_A))
    page_queries(client)  # the first request of a process also warms per-process caches
    small = page_queries(client)
    connection.set_schema_to_public()
    with schema_context(BRAND_A):
        for n in range(40):
            MemberFactory(source=f"src{n}", enrolled_at=dt.datetime(2025, 1 + n % 12, 1 + n % 28, tzinfo=dt.UTC))
        dashboard_refresh()
    large = page_queries(client)
    assert small == large
    # The range cards add three queries (one per per-day table, both periods at once); the
    # members total is read once instead of twice.
    assert large <= 47


def test_a_brand_never_refreshed_sees_its_figures_at_first_open(in_brand_a: Any, admin_client_a: Client) -> None:
    members_and_orders(prefix="F", home=4, other=1)
    connection.set_schema_to_public()

    html = admin_client_a.get("/admin/").content.decode()

    assert figure(html, "members-1") == "5"
    assert 'id="dash-refreshed-at"' in html and "尚未生成" not in html


def test_the_refresh_control_computes_in_the_background_with_progress(scene_a: Any, admin_client_a: Client) -> None:
    """刷新 queues the rebuild and returns at once to the same dashboard (store, range), which says
    it is computing and polls (htmx, no inline handler); when the worker is done the poll answers
    HX-Refresh and the reloaded page shows the new figures."""
    store_1, _ = scene_a
    with schema_context(BRAND_A):
        cache.delete(PENDING_KEY)
        MemberFactory.create_batch(2)
    status_url = "/admin/dashboard/dashboardsettings/refresh/status/"

    before = admin_client_a.get("/admin/").content.decode()
    response = admin_client_a.post(f"/admin/dashboard/dashboardsettings/refresh/?store={store_1.pk}&range=30d")
    pending = admin_client_a.get(response["Location"]).content.decode()
    again = admin_client_a.post("/admin/dashboard/dashboardsettings/refresh/?range=30d")
    polled = admin_client_a.get(status_url, HTTP_HX_REQUEST="true")

    assert response.status_code == 302 and response["Location"] == f"/admin/?store={store_1.pk}&range=30d"
    assert again.status_code == 302
    assert figure(before, "members-1") == "9"
    assert 'id="dash-progress"' in pending and "正在重新计算" in pending and 'id="dash-refresh-go"' not in pending
    assert f'hx-get="{status_url}"' in pending and 'hx-trigger="every 2s"' in pending
    assert "htmx-2.min.js" in pending and " onclick=" not in pending and " onchange=" not in pending
    assert polled.status_code == 200 and "HX-Refresh" not in polled and 'id="dash-progress"' in polled.content.decode()

    # While the worker runs, the line names its step (services.dashboard_refresh sets it).
    with schema_context(BRAND_A):
        cache.set(PROGRESS_KEY, {"done": 2, "total": 8, "step": "等级变动"})
    running = admin_client_a.get(status_url, HTTP_HX_REQUEST="true").content.decode()
    assert "正在重新计算：等级变动（第 3/8 步）" in running and 'value="25"' in running

    # The worker's run (the queued task itself, in the brand), then the next poll.
    with schema_context(BRAND_A):
        refresh_task()
    done = admin_client_a.get(status_url, HTTP_HX_REQUEST="true")
    after = admin_client_a.get("/admin/").content.decode()

    assert done["HX-Refresh"] == "true"
    assert figure(after, "members-1") == "11" and 'id="dash-progress"' not in after and 'id="dash-refresh-go"' in after
    with schema_context(BRAND_A):
        assert cache.get(PROGRESS_KEY) is None  # the finished refresh leaves no step behind
    assert admin_client_a.get("/admin/dashboard/dashboardsettings/refresh/").status_code == 405


def test_the_range_and_its_previous_period_on_the_cards(scene_a: Any, admin_client_a: Client) -> None:
    """Presets and a custom range choose the range cards (环比 against the same-length previous
    period, "—" when that period is empty); a refused custom range says why and shows 近 7 天;
    the store filter and the range combine."""
    store_1, _ = scene_a
    with schema_context(BRAND_A):
        today = dt.datetime.now(tz=dt.UTC).astimezone(SHANGHAI).date()
        # One store-1 order exactly a week ago: in 近 30 天, and the previous period of 近 7 天.
        order_post(
            channel=SalesChannel.STORE,
            order_no="A-week-ago",
            paid_at=dt.datetime.combine(today - dt.timedelta(days=7), dt.time(12), tzinfo=SHANGHAI),
            amount_fen=10_000,
            store=store_1,
            actor="t",
        )
    connection.set_schema_to_public()

    week = admin_client_a.get("/admin/?range=7d").content.decode()
    month = admin_client_a.get("/admin/?range=30d").content.decode()
    day = admin_client_a.get(f"/admin/?range=today&store={store_1.pk}").content.decode()
    yesterday = today - dt.timedelta(days=1)
    custom = admin_client_a.get(f"/admin/?range=custom&start={yesterday}&end={yesterday}").content.decode()
    refused = admin_client_a.get(f"/admin/?range=custom&start={today}&end={yesterday}").content.decode()

    # 近 7 天: 10 orders this week against 1 the week before (+900 %); new members: 9 against none.
    assert "区间概览 · 近 7 天" in week and 'data-range="7d" class="dash-range-option is-active"' in week
    assert figure(week, "range-2") == "10" and change(week, "range-2") == "环比 ↑ 900.0%"
    # The scene's members enrolled 30 days ago (tests/factories.py): none new this week or the last.
    assert figure(week, "range-1") == "0" and change(week, "range-1") == "环比 —"
    # The share of member orders: 90 % against 0 % of the week before, in percentage points.
    assert figure(week, "range-5") == "90" and change(week, "range-5") == "环比 ↑ 90.0 个百分点"
    assert figure(month, "range-2") == "11" and change(month, "range-2") == "环比 —"
    # Store 1, today: 6 member orders and the tourist's; against yesterday (nothing) "—".
    assert figure(day, "range-2") == "7" and change(day, "range-2") == "环比 —"
    assert f'<input type="hidden" name="store" value="{store_1.pk}">' in day
    assert figure(custom, "range-2") == "0" and "自定义" in custom and f'value="{yesterday}"' in custom
    enrolled = today - dt.timedelta(days=30)
    around = admin_client_a.get(
        f"/admin/?range=custom&start={enrolled - dt.timedelta(days=1)}&end={enrolled + dt.timedelta(days=1)}"
    ).content.decode()
    assert figure(around, "range-1") == "9" and change(around, "range-1") == "环比 —"
    assert "开始日期不能晚于结束日期。" in refused and "区间概览 · 近 7 天" in refused
    # The channel table and the export follow the range.
    assert "近 30 天 · 按渠道" in month
    rows = list(
        csv.reader(
            io.StringIO(
                admin_client_a.get(export_url("capture_store", "csv") + "?range=today").content.decode("utf-8-sig")
            )
        )
    )
    assert sum(int(row[1]) for row in rows[1:]) == 10


def change(html: str, key: str) -> str:
    match = re.search(rf'data-change="{key}"[^>]*>([^<]*)<', html)
    assert match, key
    return match.group(1)


def test_members_by_source_name_their_channel_code(in_brand_a: Any, admin_client_a: Client) -> None:
    """A member's source is the `state` of the channel QR code they came through: the table names
    the code as the marketer did; a source the product writes itself is in words; a state no code
    carries stays as it is."""
    from wecom.models import ContactWay

    ContactWay.objects.create(
        name="徐汇店海报码", state="xh-poster", config_id="cfg-xh", qr_code="https://qr.example/xh"
    )
    MemberFactory.create_batch(2, source="xh-poster")
    MemberFactory.create(source="imported-2026")
    MemberFactory.create(source="import")
    MemberFactory.create(source="scan:SKU-TEA-250")
    dashboard_refresh()
    connection.set_schema_to_public()
    export = admin_client_a.get(export_url("members_source", "csv")).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(export)))
    by_name = {row[0]: row[1] for row in rows[1:]}
    assert by_name["徐汇店海报码"] == "2" and by_name["imported-2026"] == "1" and "xh-poster" not in by_name
    assert by_name["批量导入"] == "1" and "import" not in by_name
    assert by_name["扫码入会（SKU-TEA-250）"] == "1"
