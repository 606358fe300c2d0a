"""One item, one code as people see it: the back office's batches, segments, dealers, alerts, the
report and fraud pages and the two upload pages at 1440 px (Chromium asking for English), and the
scan page /s/<serial> at 390 px, the member centre's scan tile and 我的扫码 at 390 px, the day's
diversion digest and a campaign rewarding a coupon picked by name. Screenshots under
test-output/browser (s*.png)."""

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from coupons.models import CouponTemplate
from coupons.services import coupon_template_create
from crm.tenancy.zones import brand_date
from membercentre.services.links import member_centre_link_path
from scancodes import claim_keys
from scancodes.imports import code_import_run
from scancodes.models import CodeImport, Dealer, ScanCampaign
from scancodes.services import batch_generate, code_claim, scan_context, segment_create
from tests.browser.conftest import SCREENSHOTS, base_url, login
from tests.factories import MemberFactory

pytestmark = pytest.mark.browser
DESKTOP = {
    "viewport": {"width": 1440, "height": 900},
    "locale": "en-US",
    "extra_http_headers": {"Accept-Language": "en-US,en;q=0.9"},
}
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}


def test_scancodes_back_office_and_scan_page(server: int, live_brand: Any, browser: Any) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        now = timezone.now()
        campaign = ScanCampaign.objects.create(
            name="龙井扫码有礼",
            points=15,
            sku_points={"SKU-TEA-250G": 20, "SKU-TEA-500G": 40},
            starts_at=now - dt.timedelta(days=1),
            ends_at=now + dt.timedelta(days=30),
            cap_member_day=3,
        )
        dealer = Dealer.objects.create(
            code="D-ZJ-001", name="杭州西湖茶业经销有限公司", region_name="华东区", region_areas=["浙江", "上海"]
        )
        batch = batch_generate(
            sku="SKU-TEA-250G", product_name="明前龙井礼盒 250g", category="茶叶", quantity=200, actor="admin"
        )
        assert batch.first_serial is not None
        segment_create(
            batch=batch,
            first_serial=batch.first_serial,
            last_serial=batch.first_serial + 99,
            lot="L20261101",
            production_date=dt.date(2026, 11, 1),
            region_name="华东区",
            dealer=dealer,
            campaign=campaign,
            actor="admin",
            activate=True,
        )
        key = claim_keys.batch_key_open(batch.key_encrypted)
        scanner = MemberFactory.create(name="林小雨")
        for n in range(3):
            serial = batch.first_serial + n
            code_claim(
                serial=serial,
                secret=claim_keys.secret_for(key, serial),
                member=scanner if n == 0 else MemberFactory.create(),
                ctx=scan_context(ip="192.0.2.200", user_agent="Mozilla/5.0 (iPhone)"),
            )
        # A second segment earning a coupon, picked by its name on the campaign's page.
        coupon_template = coupon_template_create(
            template=CouponTemplate(
                name="龙井专享满200减30",
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                threshold_fen=20_000,
                amount_off_fen=3_000,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=30,
                generic_code="TEA30",
            )
        )
        coupon_campaign = ScanCampaign.objects.create(
            name="龙井扫码送券",
            reward_kind="coupon",
            coupon_template=coupon_template,
            starts_at=now - dt.timedelta(days=1),
            ends_at=now + dt.timedelta(days=30),
            budget_points=5000,
        )
        segment_create(
            batch=batch,
            first_serial=batch.first_serial + 100,
            last_serial=batch.first_serial + 199,
            dealer=dealer,
            campaign=coupon_campaign,
            actor="admin",
            activate=True,
        )
        code_claim(
            serial=batch.first_serial + 100,
            secret=claim_keys.secret_for(key, batch.first_serial + 100),
            member=scanner,
            ctx=scan_context(ip="192.0.2.70", user_agent="Mozilla/5.0 (iPhone)"),
        )
        today = brand_date(timezone.now())
        scanner_link = member_centre_link_path(member_id=scanner.pk)
        unclaimed = batch.first_serial + 10
        unclaimed_secret = claim_keys.secret_for(key, unclaimed)

    admin = browser.new_context(**DESKTOP)
    page = admin.new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    pages = [
        ("s1-batches", "/admin/scancodes/codebatch/"),
        ("s2-batch", f"/admin/scancodes/codebatch/{batch.pk}/change/"),
        ("s3-segments", "/admin/scancodes/segment/"),
        ("s4-dealers", "/admin/scancodes/dealer/"),
        ("s5-dealer-import", "/admin/scancodes/dealer/import/"),
        ("s6-code-import", "/admin/scancodes/codebatch/import/"),
        ("s7-reports", "/admin/scancodes/claim/reports/?by=dealer"),
        ("s8-fraud", "/admin/scancodes/claim/fraud/"),
        ("s9-claims", "/admin/scancodes/claim/"),
        ("s10-alerts", "/admin/scancodes/diversionalert/"),
        ("s11-campaigns", "/admin/scancodes/scancampaign/"),
        ("s11b-campaign", f"/admin/scancodes/scancampaign/{campaign.pk}/change/"),
        ("s12-scans", "/admin/scancodes/scan/"),
        ("s16-digest", f"/admin/scancodes/diversionalert/digest/?day={today:%Y-%m-%d}"),
        ("s17-coupon-campaign", f"/admin/scancodes/scancampaign/{coupon_campaign.pk}/change/"),
        ("s18-digest-sends", "/admin/scancodes/digestsend/"),
    ]
    for name, path in pages:
        response = page.goto(f"{url}{path}")
        assert response is not None and response.status == 200, path
        content = page.content()
        for english in ("Select ", "Add ", "Action:", "Go</button>", "Change ", "Filter</", 'placeholder="Date"'):
            assert english not in content, (path, english)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    # An upload with a bad row, imported by what the worker runs, then its result page.
    page.goto(f"{url}/admin/scancodes/dealer/import/")
    page.set_input_files(
        "input[type=file]",
        files=[
            {
                "name": "经销商.csv",
                "mimeType": "text/csv",
                "buffer": "经销商编码,经销商名称,区域包含的省市\nD-SH-002,上海浦东经销,上海\n,无编码,\n".encode(),
            }
        ],
    )
    page.click("input[type=submit]")
    page.wait_for_url(lambda address: "/import/" in address and address.rstrip("/").split("/")[-1].isdigit())
    with schema_context(live_brand.schema_name):
        for job in CodeImport.objects.filter(status=CodeImport.Status.QUEUED):
            code_import_run(job_id=job.pk)
    page.reload()
    content = page.content()
    assert "导入完成：新增 1 个，更新 0 个，错误 1 行" in content and "经销商编码和经销商名称必填" in content
    page.screenshot(path=SCREENSHOTS / "s15-dealer-import-job.png", full_page=True)
    admin.close()

    phone = browser.new_context(**PHONE)
    scan = phone.new_page()
    response = scan.goto(f"{url}/s/{unclaimed}?k={unclaimed_secret}")
    assert response is not None and response.status == 200
    assert "明前龙井礼盒" in scan.content()
    scan.screenshot(path=SCREENSHOTS / "s13-scan-page-390.png", full_page=True)
    claimed = scan.goto(f"{url}/s/{batch.first_serial}?k={claim_keys.secret_for(key, batch.first_serial)}")
    assert claimed is not None and claimed.status == 200
    scan.screenshot(path=SCREENSHOTS / "s14-scan-claimed-390.png", full_page=True)
    # The member centre: the scan tile with the latest claim, then 我的扫码.
    scan.goto(f"{url}{scanner_link}")
    home = scan.goto(f"{url}/m/")
    assert home is not None and home.status == 200
    assert "最近：明前龙井礼盒 250g 优惠券「龙井专享满200减30」" in scan.content()
    scan.screenshot(path=SCREENSHOTS / "s19-member-centre-tile-390.png", full_page=True)
    mine = scan.goto(f"{url}/m/scans/")
    assert mine is not None and mine.status == 200 and "+20 积分" in scan.content()
    scan.screenshot(path=SCREENSHOTS / "s20-my-scans-390.png", full_page=True)
    phone.close()
