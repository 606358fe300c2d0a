"""Historical order import: every row goes through the real order service (dedupe, capture rate,
tiers, lifecycle), in batches; bad rows are reported with line and column and write nothing;
re-importing is harmless; historical orders earn no points unless the importer asks; store users
import only their store's orders; the other brand is untouched."""

import datetime as dt
import io
import zoneinfo

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from crm.errors import AppError
from crm.tenancy.zones import brand_zone
from members import error_codes, order_imports
from members.models import CaptureRateDaily, ImportJob, Member, Order, PointsEntry, TierChange
from members.order_imports import orders_import_file
from members.roles import STORE_MANAGER, STORE_STAFF
from members.services.orders import order_post
from tests.conftest import logged_in_client
from tests.factories import StoreFactory

from .conftest import staff_user_create
from .import_jobs import import_job_followed, job_rows
from .loyalty_scene import program, tiers

HEADER = "渠道,订单号,门店编码,支付时间,实付金额（元）,买家标识类型,买家标识,导购企业微信ID\n"
# Brands default to Asia/Shanghai (the zone the file's naive times are read in).
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LAST_MONTH = (timezone.now() - dt.timedelta(days=30)).astimezone(SHANGHAI).strftime("%Y-%m-%d")


def _csv(*rows: str) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode("utf-8-sig")


def _import(user, content: bytes, filename: str = "orders.csv", **kwargs):
    return orders_import_file(content=content, filename=filename, user=user, actor="importer", **kwargs)


@pytest.fixture
def brand_admin_user(in_brand_a):
    return get_user_model().objects.get(username="admin@alpha.example")


@pytest.fixture
def scene(brand_admin_user, enrol, store_a, staff_a):
    program()
    t = tiers()
    member = enrol(mobile="13800000001")
    return {"member": member, "tiers": t, "store": store_a, "staff": staff_a}


def test_good_csv_records_orders_through_the_order_service_without_points(brand_admin_user, scene):
    member = scene["member"]
    content = _csv(
        f"线下门店,POS1,SH001,{LAST_MONTH} 14:30,1200.50,手机号,13800000001,wang",
        f"tmall,TM1,,{LAST_MONTH} 09:05:00,88,,,",  # English channel code, tourist order
        f'天猫,TM2,,{LAST_MONTH}T10:00:00+08:00,"¥1,000.00",手机号,13999999999,',  # not a member: tourist
    )

    report = _import(brand_admin_user, content)

    assert [(r.line, r.status) for r in report.rows] == [(2, "created"), (3, "created"), (4, "created")]
    assert report.rows[0].member_no == member.member_no and report.rows[0].points_earned == 0
    pos = Order.objects.get(order_no="POS1")
    assert (pos.channel, pos.store, pos.amount_fen, pos.member, pos.is_member_order, pos.staff) == (
        "store",
        scene["store"],
        120_050,
        member,
        True,
        scene["staff"],
    )
    assert pos.paid_at == dt.datetime.fromisoformat(f"{LAST_MONTH} 14:30").replace(tzinfo=brand_zone())
    assert Order.objects.get(order_no="TM2").amount_fen == 100_000
    assert not Order.objects.get(order_no="TM2").is_member_order
    # Default: no points, but spend, tier, lifecycle, last purchase and capture rate all follow.
    assert not PointsEntry.objects.filter(member=member).exists()
    member.refresh_from_db()
    assert member.points_balance == 0
    assert member.tier == scene["tiers"]["silver"]  # 1,200.50 yuan within the 365-day window
    assert TierChange.objects.filter(member=member, note=f"order:{pos.pk}").exists()
    assert member.last_purchase_at == pos.paid_at
    assert member.lifecycle_stage == Member.Lifecycle.PURCHASE
    day = pos.paid_at.astimezone(brand_zone()).date()
    store_day = CaptureRateDaily.objects.get(day=day, channel="store", store=scene["store"])
    assert (store_day.orders_total, store_day.orders_member, store_day.gmv_member_fen) == (1, 1, 120_050)
    tmall_day = CaptureRateDaily.objects.get(day=day, channel="tmall", store=None)
    assert (tmall_day.orders_total, tmall_day.orders_member, tmall_day.gmv_total_fen) == (2, 0, 108_800)


def test_the_importer_may_let_historical_orders_earn(brand_admin_user, scene):
    report = _import(
        brand_admin_user, _csv(f"store,POS1,SH001,{LAST_MONTH} 12:00,99.99,mobile,13800000001,"), earn_points=True
    )
    assert report.rows[0].points_earned == 99
    scene["member"].refresh_from_db()
    assert scene["member"].points_balance == 99
    assert PointsEntry.objects.get(member=scene["member"]).kind == "earn"


def test_xlsx_with_date_cells_and_numbers(brand_admin_user, scene):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["渠道", "订单号", "门店编码", "支付时间", "实付金额（元）", "买家标识类型", "买家标识"])
    paid = dt.datetime.fromisoformat(f"{LAST_MONTH} 20:15")
    sheet.append(["线下门店", 20240301001, "SH001", paid, 259.9, "手机号", 13800000001])
    sheet.append(["京东", "JD-9", None, paid, 10, None, None])
    buffer = io.BytesIO()
    book.save(buffer)

    report = _import(brand_admin_user, buffer.getvalue(), filename="history.XLSX")

    assert [r.status for r in report.rows] == ["created", "created"]
    order = Order.objects.get(order_no="20240301001")
    assert (order.amount_fen, order.member, order.paid_at) == (
        25_990,
        scene["member"],
        paid.replace(tzinfo=brand_zone()),
    )
    assert Order.objects.get(order_no="JD-9").amount_fen == 1_000


def test_bad_rows_are_reported_by_line_and_column_and_write_nothing(brand_admin_user, scene, monkeypatch):
    # Tiny batches: the bad rows are spread over several service calls.
    monkeypatch.setattr(order_imports, "BATCH_SIZE", 2)
    order_post(
        channel="store", order_no="OLD1", paid_at=timezone.now(), amount_fen=500, store=scene["store"], actor="pos"
    )
    future = (timezone.now() + dt.timedelta(days=3)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    content = _csv(
        f"store,GOOD1,SH001,{LAST_MONTH} 10:00,10.00,手机号,13800000001,",
        f"飞机,BAD1,SH001,{LAST_MONTH} 10:00,10,,,",  # unknown channel
        f"store,,SH001,{LAST_MONTH} 10:00,10,,,",  # no order number
        f"store,BAD3,XX999,{LAST_MONTH} 10:00,10,,,",  # unknown store
        "store,BAD4,SH001,昨天下午,10,,,",  # unreadable time
        f"store,BAD5,SH001,{LAST_MONTH} 10:00,10.001,,,",  # three decimals
        f"store,BAD6,SH001,{LAST_MONTH} 10:00,-1,,,",  # negative
        f"store,BAD7,SH001,{LAST_MONTH} 10:00,10,手机号,,",  # kind without value
        f"store,BAD8,SH001,{LAST_MONTH} 10:00,10,身份证,110,",  # unknown identity kind
        f"store,BAD9,SH001,{LAST_MONTH} 10:00,10,手机号,12345,",  # invalid mobile
        f"store,BAD10,SH001,{LAST_MONTH} 10:00,10,,,nobody",  # unknown staff
        f"store,BAD11,SH001,{future},10,,,",  # in the future: refused by the order service
        f"store,OLD1,SH001,{LAST_MONTH} 10:00,6.00,,,",  # same order number, other amount: service conflict
        f"store,GOOD1,SH001,{LAST_MONTH} 10:00,10.00,,,",  # repeats line 2
        f"store,GOOD2,SH001,{LAST_MONTH} 11:00,20,,,",
    )
    orders_before = Order.objects.count()

    report = _import(brand_admin_user, content)

    by_line = {r.line: r for r in report.rows}
    assert [r.line for r in report.rows if r.status == "created"] == [2, 16]
    expected_columns = {
        3: "渠道",
        4: "订单号",
        5: "门店编码",
        6: "支付时间",
        7: "实付金额（元）",
        8: "实付金额（元）",
        9: "买家标识",
        10: "买家标识类型",
        11: "买家标识",
        12: "导购企业微信ID",
        13: "支付时间",
        14: "订单号",
        15: "订单号",
    }
    assert {r.line: r.column for r in report.errors} == expected_columns
    assert "飞机" in by_line[3].message and "XX999" in by_line[5].message and "两位小数" in by_line[7].message
    assert "晚于当前时间" in by_line[13].message and "金额不同" in by_line[14].message
    assert "第 2 行" in by_line[15].message
    assert all(r.message for r in report.errors)
    # Exactly the two good orders were written; the existing one is unchanged.
    assert Order.objects.count() == orders_before + 2
    assert set(Order.objects.filter(order_no__startswith="BAD").values_list("order_no", flat=True)) == set()
    assert Order.objects.get(order_no="OLD1").amount_fen == 500
    assert Order.objects.get(order_no="GOOD1").member == scene["member"]


def test_reimporting_the_same_file_changes_nothing(brand_admin_user, scene):
    content = _csv(
        f"store,POS1,SH001,{LAST_MONTH} 14:30,1200.50,手机号,13800000001,",
        f"tmall,TM1,,{LAST_MONTH} 09:05,88,,,",
    )
    _import(brand_admin_user, content, earn_points=True)

    def state():
        member = Member.objects.get(pk=scene["member"].pk)
        return (
            list(Order.objects.order_by("id").values_list("id", "amount_fen", "points_earned", "member_id")),
            list(CaptureRateDaily.objects.order_by("id").values_list("orders_total", "gmv_total_fen")),
            PointsEntry.objects.count(),
            TierChange.objects.count(),
            (member.points_balance, member.tier_id, member.last_purchase_at, member.lifecycle_stage),
        )

    before = state()
    report = _import(brand_admin_user, content, earn_points=True)

    assert [r.status for r in report.rows] == ["existing", "existing"]
    assert report.rows[0].member_no == scene["member"].member_no
    assert all("已存在" in r.message for r in report.rows)
    assert state() == before


def _empty_xlsx() -> bytes:
    out = io.BytesIO()
    openpyxl.Workbook().save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "filename", "words"),
    [
        ("渠道,订单号,支付时间\nstore,A,2024-01-01\n".encode(), "a.csv", "实付金额"),  # required column missing
        ("渠道,订单号,支付时间,实付金额,鞋码\n".encode(), "a.csv", "鞋码"),  # unknown column
        ("渠道,订单号,支付时间,实付金额,amount\n".encode(), "a.csv", "重复"),  # the same column twice
        (b"\xff\xfe\x00garbage", "a.csv", "UTF-8"),
        (b"whatever", "a.pdf", "CSV"),
        (b"not a zip", "a.xlsx", "无法读取"),
        (_empty_xlsx(), "a.xlsx", "无法读取"),  # a sheet without even a header row
    ],
)
def test_invalid_files_are_refused_as_a_whole(brand_admin_user, content, filename, words):
    with pytest.raises(AppError) as caught:
        _import(brand_admin_user, content, filename=filename)
    assert caught.value.code == error_codes.IMPORT_INVALID and words in caught.value.message
    assert Order.objects.count() == 0


def test_too_many_rows_are_refused_as_a_whole(brand_admin_user, scene, monkeypatch):
    monkeypatch.setattr(order_imports, "MAX_ROWS", 2)
    rows = [f"store,N{n},SH001,{LAST_MONTH} 10:00,1,,," for n in range(3)]
    with pytest.raises(AppError) as caught:
        _import(brand_admin_user, _csv(*rows))
    assert "最多导入 2 行" in caught.value.message
    assert Order.objects.count() == 0


def test_the_other_brand_is_untouched(brand_admin_user, scene, brand_b):
    with schema_context(brand_b.schema_name):
        # The same order number in the other brand neither blocks nor is touched by this import.
        order_post(channel="store", order_no="POS1", paid_at=timezone.now(), amount_fen=1, actor="pos")
    report = _import(brand_admin_user, _csv(f"store,POS1,SH001,{LAST_MONTH} 14:30,12.00,,,"))
    assert [r.status for r in report.rows] == ["created"]
    with schema_context(brand_b.schema_name):
        assert list(Order.objects.values_list("order_no", "amount_fen")) == [("POS1", 1)]
        assert not CaptureRateDaily.objects.filter(gmv_total_fen=1200).exists()


def test_store_manager_imports_only_their_store_through_the_admin(in_brand_a, scene, brand_a):
    other = StoreFactory(code="HZ001", name="杭州店", city="杭州")
    staff_user_create(store=scene["store"], role=STORE_MANAGER, username="manager@alpha.example")
    staff_user_create(store=other, role=STORE_MANAGER, username="hz@alpha.example")
    client = logged_in_client("alpha", "manager@alpha.example")
    upload = SimpleUploadedFile(
        "o.csv",
        _csv(
            f"store,MINE,,{LAST_MONTH} 10:00,10,,,",  # blank store: the manager's own
            f"store,THEIRS,HZ001,{LAST_MONTH} 10:00,10,,,",
            f"store,STAFF,,{LAST_MONTH} 10:00,10,,,wx-hz@alpha.example",  # another store's staff
        ),
        content_type="text/csv",
    )

    response = client.post(reverse("admin:members_order_import"), {"file": upload})

    job, _page = import_job_followed(client, response, brand_a)
    rows = job_rows(job)
    assert [(r.status, r.column) for r in rows] == [
        ("created", ""),
        ("error", "门店编码"),
        ("error", "导购企业微信ID"),
    ]
    assert "本门店" in rows[1].message and "本门店" in rows[2].message
    assert list(Order.objects.values_list("order_no", "store")) == [("MINE", scene["store"].pk)]


def test_only_unlimited_adjusters_may_award_points_on_imported_orders(in_brand_a, scene, brand_a):
    """Points on imported orders are a points grant of any size: a store manager (whose manual
    adjustments are capped) is refused as a whole, and nothing is written."""
    staff_user_create(store=scene["store"], role=STORE_MANAGER, username="manager@alpha.example")
    client = logged_in_client("alpha", "manager@alpha.example")
    upload = SimpleUploadedFile(
        "o.csv", _csv(f"store,PTS,,{LAST_MONTH} 10:00,10000,wechat_unionid,u-1,"), content_type="text/csv"
    )

    response = client.post(reverse("admin:members_order_import"), {"file": upload, "earn_points": "on"})

    assert response.status_code == 200  # refused on the upload page: no job
    assert "不限额调整积分" in response.content.decode()
    connection.set_tenant(brand_a)
    assert not Order.objects.exists() and not ImportJob.objects.exists()


def test_admin_page_template_and_permissions(admin_client_a, in_brand_a, scene, brand_a):
    changelist = admin_client_a.get(reverse("admin:members_order_changelist"))
    assert reverse("admin:members_order_import") in changelist.content.decode()

    page = admin_client_a.get(reverse("admin:members_order_import"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "下载导入模板" in body and "历史订单计算积分" in body and "默认不勾选" in body

    template = admin_client_a.get(reverse("admin:members_order_import_template"))
    assert template.status_code == 200 and template["Content-Type"].startswith("text/csv")
    assert template.content.startswith("\ufeff渠道,订单号,门店编码,支付时间,实付金额（元）".encode())
    # The template itself imports (its sample rows are valid).
    connection.set_tenant(brand_a)
    response = admin_client_a.post(
        reverse("admin:members_order_import"),
        {"file": SimpleUploadedFile("t.csv", template.content, content_type="text/csv")},
    )
    job, page = import_job_followed(admin_client_a, response, brand_a)
    assert [r.status for r in job_rows(job)] == ["created"] * 3
    assert "导入完成：新导入 3 笔" in page.content.decode()

    bad = admin_client_a.post(
        reverse("admin:members_order_import"), {"file": SimpleUploadedFile("x.pdf", b"%PDF", content_type="x")}
    )
    assert bad.status_code == 200 and "只支持 CSV 或 XLSX" in bad.content.decode()

    connection.set_tenant(brand_a)
    staff_user_create(store=scene["store"], role=STORE_STAFF, username="clerk@alpha.example")
    clerk = logged_in_client("alpha", "clerk@alpha.example")
    assert clerk.get(reverse("admin:members_order_import")).status_code == 403
    assert clerk.get(reverse("admin:members_order_import_template")).status_code == 403
    assert (
        reverse("admin:members_order_import")
        not in clerk.get(reverse("admin:members_order_changelist")).content.decode()
    )
