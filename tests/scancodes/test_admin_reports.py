"""The back office: generating a batch and exporting it for the printer through the admin, the
report by dimension, the fraud view, the diversion list with its daily digest."""

import datetime as dt
import re

import time_machine
from django.utils import timezone

from crm.db import connection
from crm.tenancy.zones import brand_date
from scancodes.models import CodeBatch, CodeExport
from scancodes.selectors import diversion_digest, fraud_signals, scan_report
from scancodes.services import code_claim, code_verify
from tests.factories import MemberFactory

from .conftest import GUANGZHOU, HANGZHOU, ctx, secret


def test_the_admin_generates_a_batch_and_exports_it_once_per_allowance(admin_client_a, brand_a, campaign):
    response = admin_client_a.post(
        "/admin/scancodes/codebatch/add/",
        {
            "sku": "SKU-ADM",
            "product_name": "后台批次",
            "category": "茶",
            "quantity": "12",
            "exports_allowed": "1",
            "exports-TOTAL_FORMS": "0",
            "exports-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.set_tenant(brand_a)
    batch = CodeBatch.objects.get(sku="SKU-ADM")
    assert batch.quantity == 12 and batch.last_serial - batch.first_serial == 11

    export = admin_client_a.post(
        "/admin/scancodes/codebatch/", {"action": "export_csv", "_selected_action": [batch.pk]}
    )
    assert export.status_code == 200 and export["Content-Disposition"].endswith('.csv"')
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert body.count("\n") == 13
    again = admin_client_a.post(
        "/admin/scancodes/codebatch/", {"action": "export_csv", "_selected_action": [batch.pk]}, follow=True
    )
    assert "已导出 1 次，达到允许的上限" in again.content.decode()
    connection.set_tenant(brand_a)
    assert CodeExport.objects.filter(batch=batch).count() == 1


def test_reports_by_sku_and_dealer_count_scans_claims_and_diversions(batch, admin_client_a, brand_a):
    serial = batch.first_serial
    code_verify(serial=serial, secret=secret(batch, serial), ctx=ctx())
    code_claim(serial=serial, secret=secret(batch, serial), member=MemberFactory.create(), ctx=ctx(ip=GUANGZHOU))
    today = brand_date(timezone.now())

    (row,) = scan_report(by="sku", start=today, end=today)
    assert (row.key, row.scans, row.claims, row.points, row.diverted) == ("SKU-TEA", 2, 1, 15, 1)
    (dealer_row,) = scan_report(by="dealer", start=today, end=today)
    assert dealer_row.key == "浙江经销商"

    page = admin_client_a.get("/admin/scancodes/claim/reports/?by=region")
    assert page.status_code == 200 and "广东省" in page.content.decode()


def test_the_daily_digest_lists_yesterdays_alerts_by_dealer(batch, admin_client_a, brand_a):
    now = timezone.now()
    for n in range(2):
        serial = batch.first_serial + n
        code_claim(serial=serial, secret=secret(batch, serial), member=MemberFactory.create(), ctx=ctx(ip=GUANGZHOU))
    (line,) = diversion_digest(day=brand_date(now))
    assert (line.dealer, line.alerts, line.cities) == ("浙江经销商", 2, "广州市")
    with time_machine.travel(now + dt.timedelta(days=1)):
        page = admin_client_a.get("/admin/scancodes/diversionalert/")
    assert page.status_code == 200 and "窜货日报" in page.content.decode() and "广州市" in page.content.decode()


def test_fraud_view_flags_impossible_travel(batch, admin_client_a, brand_a):
    member = MemberFactory.create()
    first, second = batch.first_serial, batch.first_serial + 1
    code_claim(serial=first, secret=secret(batch, first), member=member, ctx=ctx(ip=HANGZHOU))
    code_claim(serial=second, secret=secret(batch, second), member=member, ctx=ctx(ip=GUANGZHOU))
    today = brand_date(timezone.now())
    signals = fraud_signals(start=today, end=today)
    assert [s.kind for s in signals] == ["impossible_travel"] and "浙江省 → 广东省" in signals[0].detail
    page = admin_client_a.get("/admin/scancodes/claim/fraud/")
    assert page.status_code == 200 and "异地瞬移" in page.content.decode()


def test_points_per_sku_are_typed_as_lines_not_json(admin_client_a, campaign):
    url = f"/admin/scancodes/scancampaign/{campaign.pk}/change/"
    page = admin_client_a.get(url).content.decode()
    assert "SKU-TEA 15" in page and "{&quot;" not in page  # the stored dict shown as a line, not JSON
    form = {
        "name": campaign.name,
        "reward_kind": "points",
        "points": "10",
        "starts_at_0": "2026-01-01",
        "starts_at_1": "00:00:00",
        "ends_at_0": "2030-01-01",
        "ends_at_1": "00:00:00",
        "cap_member_day": "3",
        "cap_member_month": "20",
        "risky_claims_per_hour": "20",
    }
    bad = admin_client_a.post(url, {**form, "sku_points": "SKU-TEA 15\nSKU-COFFEE 二十"})
    assert "第 2 行应为“SKU 积分”" in bad.content.decode()
    campaign.refresh_from_db()
    assert campaign.sku_points == {"SKU-TEA": 15}  # a refused form changes nothing
    saved = admin_client_a.post(url, {**form, "sku_points": "SKU-TEA 15\nSKU-COFFEE，20\n"})
    assert saved.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", saved.content.decode(), re.S)
    campaign.refresh_from_db()
    assert campaign.sku_points == {"SKU-TEA": 15, "SKU-COFFEE": 20}
