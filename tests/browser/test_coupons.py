"""Coupons at the counter and on the phone, in a real browser: store staff write a coupon off on
the workbench (1440 px) from the member code on the customer's phone, against an order number and
an amount in yuan; the member sees 我的优惠券 with the QR for the counter (390 px).
Screenshots: test-output/browser/c*.png."""

from typing import Any

import pytest
from django_tenants.utils import schema_context

from coupons.models import Coupon, CouponRedemption, CouponTemplate
from coupons.services import coupon_codes_generate, coupon_issue, coupon_template_create
from membercentre.services.codes import member_code_issue
from membercentre.services.links import member_centre_link_path
from members.models import Member
from tests.browser.conftest import SCREENSHOTS, base_url, login
from tests.browser.test_member_centre import PHONE
from tests.browser.test_workbench import DESK, _store_scene
from tests.members.conftest import decisions_for, membership_version_ensure

pytestmark = pytest.mark.browser


def _coupon_scene() -> tuple[Member, list[Coupon]]:
    from consent.types import ConsentEvidence
    from members.services.members import member_enroll

    store, staff = _store_scene()
    member = member_enroll(
        name="林小雨",
        mobile="13900001234",
        home_store=store,
        staff=staff,
        decisions=decisions_for(membership_version_ensure(), marketing_sms=True),
        evidence=ConsentEvidence(channel="store", staff_id=staff.pk),
        actor="seed",
    )
    coupons = []
    for name, threshold, off in (("夏日满减券", 10_000, 2_000), ("大额满减券", 50_000, 8_000)):
        template = coupon_template_create(
            template=CouponTemplate(
                name=name,
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                threshold_fen=threshold,
                amount_off_fen=off,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=30,
                code_mode=CouponTemplate.CodeMode.GENERATED,
            )
        )
        coupon_codes_generate(template_id=template.pk, count=3)
        coupons.append(
            coupon_issue(template_id=template.pk, member_id=member.pk, source="admin", source_key="seed", actor="seed")
        )
    return member, coupons


def test_staff_write_a_coupon_off_from_the_member_code_and_the_member_sees_my_coupons(
    server: int, live_brand: Any, browser: Any
) -> None:
    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        member, (summer, big) = _coupon_scene()
        link = member_centre_link_path(member_id=member.pk)

    # The member's phone first: 我的优惠券 with the QR for the counter.
    phone = browser.new_context(**PHONE)
    mobile = phone.new_page()
    mobile.goto(f"{url}{link}")
    mobile.click("text=我的优惠券")
    mobile.wait_for_load_state()
    assert "夏日满减券" in mobile.content() and mobile.locator("svg.qr").count() == 2
    mobile.screenshot(path=SCREENSHOTS / "c1-my-coupons.png", full_page=True)

    desk = browser.new_context(**DESK)
    page = desk.new_page()
    login(page, url, "wang")
    page.click("text=核销优惠券")
    page.wait_for_load_state()
    with schema_context(live_brand.schema_name):
        code = member_code_issue(member_id=member.pk).code  # what the phone shows now
    page.fill("input[name=q]", code)
    page.fill("input[name=amount]", "158")
    page.click("form.wb-inline-form button")
    page.wait_for_load_state()
    body = page.content()
    assert "本单优惠 ¥20.00" in body and "订单金额未达到使用门槛。" in body  # 大额满减券 says why not
    page.screenshot(path=SCREENSHOTS / "c2-writeoff-lookup.png", full_page=True)
    form = page.locator("form.wb-writeoff").first
    form.locator("input[name=order_no]").fill("SH01-C0001")
    form.locator("button").click()
    page.wait_for_load_state()
    assert "已核销「夏日满减券」：订单 SH01-C0001，优惠 ¥20.00，实付 ¥138.00。" in page.content()
    page.screenshot(path=SCREENSHOTS / "c3-writeoff-done.png", full_page=True)
    desk.close()

    mobile.goto(f"{url}/m/coupons/?tab=used")
    assert "夏日满减券" in mobile.content() and "使用" in mobile.content()
    mobile.screenshot(path=SCREENSHOTS / "c4-my-coupons-used.png", full_page=True)
    phone.close()

    with schema_context(live_brand.schema_name):
        redemption = CouponRedemption.objects.get()
        assert (redemption.coupon_id, redemption.order_no, redemption.discount_fen) == (summer.pk, "SH01-C0001", 2_000)
        assert Coupon.objects.get(pk=big.pk).state == Coupon.State.ISSUED


def test_the_coupons_back_office_pages_at_1440(server: int, live_brand: Any, browser: Any) -> None:
    """The coupons admin pages nobody had looked at, as a brand admin at 1440 px: the template list
    and form, 发放给会员, the code pool (generate, and an import with bad rows), its job page, the
    report, 发券审批 and its decision page, 优惠券设置, 到期提醒. Screenshots c5–c15."""
    from django.contrib.auth.models import User

    from coupons.manual_issue import coupons_issue_manual
    from coupons.models import CouponPoolJob
    from coupons.pool_jobs import coupon_pool_job_run
    from coupons.services import coupon_redeem

    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        member, (summer, _big) = _coupon_scene()
        coupon_redeem(
            request_no="R-1",
            code=summer.code,
            member_id=None,
            store_code=None,
            channel="store",
            order_no="SH01-0001",
            order_amount_fen=15_800,
            actor="wang",
        )
        imported = coupon_template_create(
            template=CouponTemplate(
                name="品牌自有券码（导入）",
                kind=CouponTemplate.Kind.PERCENT_OFF,
                percent_off=12,
                cap_fen=5_000,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=15,
                code_mode=CouponTemplate.CodeMode.IMPORTED,
            )
        )
        clerk = User.objects.get(username="wang")
        coupons_issue_manual(template_id=summer.template_id, member_ids=[member.pk], batch="once", user=clerk)
        held = coupons_issue_manual(template_id=summer.template_id, member_ids=[member.pk], batch="twice", user=clerk)
        assert held.request is not None  # 1 per member per day: the second coupon to 林小雨 waits
        decide = f"/admin/coupons/couponissuerequest/{held.request.pk}/decide/"

    desk = browser.new_context(viewport={"width": 1440, "height": 900})
    page = desk.new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    page.goto(f"{url}/admin/coupons/coupontemplate/")
    body = page.content()
    assert "优惠券" in body and "满 ¥100.00 减 ¥20.00" in body and "生成券码" in body
    page.screenshot(path=SCREENSHOTS / "c5-templates.png", full_page=True)
    page.goto(f"{url}/admin/coupons/coupontemplate/{summer.template_id}/change/")
    page.screenshot(path=SCREENSHOTS / "c6-template-change.png", full_page=True)
    page.goto(f"{url}/admin/coupons/coupontemplate/{summer.template_id}/issue/")
    assert "发放批次号" in page.content()
    page.screenshot(path=SCREENSHOTS / "c7-issue.png", full_page=True)
    page.goto(f"{url}/admin/coupons/coupontemplate/report/")
    assert "¥20.00" in page.content()
    page.screenshot(path=SCREENSHOTS / "c8-report.png", full_page=True)

    page.goto(f"{url}/admin/coupons/coupontemplate/{summer.template_id}/pool/")
    page.fill("input[name=count]", "500")
    page.click("#coupons-page button[type=submit]")
    page.wait_for_load_state()
    with schema_context(live_brand.schema_name):
        assert coupon_pool_job_run(job_id=CouponPoolJob.objects.get().pk) == "done"
    page.reload()
    assert "已完成：券码池新增 500 个券码。" in page.content()
    page.screenshot(path=SCREENSHOTS / "c9-pool-job-done.png", full_page=True)
    page.goto(f"{url}/admin/coupons/coupontemplate/{summer.template_id}/pool/")
    page.screenshot(path=SCREENSHOTS / "c10-pool-generate.png", full_page=True)

    page.goto(f"{url}/admin/coupons/coupontemplate/{imported.pk}/pool/")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "codes.csv", "mimeType": "text/csv", "buffer": "券码\nGOOD0001\nbad\nGOOD-0001\n".encode()}],
    )
    page.click("#coupons-page button[type=submit]")
    page.wait_for_load_state()
    with schema_context(live_brand.schema_name):
        job = CouponPoolJob.objects.get(template=imported)
        assert coupon_pool_job_run(job_id=job.pk) == "failed"
    page.reload()
    assert "与第 2 行的券码重复。" in page.content()
    page.screenshot(path=SCREENSHOTS / "c11-pool-import-errors.png", full_page=True)

    page.goto(f"{url}/admin/coupons/couponissuerequest/")
    assert "员工当日累计超限" in page.content() or "会员当日累计超限" in page.content()
    page.screenshot(path=SCREENSHOTS / "c12-issue-requests.png", full_page=True)
    page.goto(f"{url}{decide}")
    page.screenshot(path=SCREENSHOTS / "c13-issue-request-decide.png", full_page=True)
    page.click("button[name=_approve]")
    page.wait_for_load_state()
    assert "已批准申请" in page.content()
    page.goto(f"{url}/admin/coupons/couponsettings/")
    page.wait_for_load_state()
    assert "手工发券额度" in page.content()
    page.screenshot(path=SCREENSHOTS / "c14-settings.png", full_page=True)
    page.goto(f"{url}/admin/coupons/coupon/")
    page.screenshot(path=SCREENSHOTS / "c15-coupons.png", full_page=True)
    page.goto(f"{url}/admin/coupons/couponredemption/")
    page.screenshot(path=SCREENSHOTS / "c16-redemptions.png", full_page=True)
    desk.close()


def test_issuing_a_coupon_from_the_members_page_and_picking_stores_by_city_at_1440(
    server: int, live_brand: Any, browser: Any
) -> None:
    """发券 on the workbench 360° page (a clerk: the first within the cap is issued, the second
    waits for approval with its stock reserved), on the admin member page (a brand admin), and the
    template form's store picker: type to search, pick every store of a city with one click.
    Screenshots c17–c21."""
    from members.services.stores import store_ensure

    url = base_url(live_brand, server)
    with schema_context(live_brand.schema_name):
        member, _coupons = _coupon_scene()
        for code, name, city in (
            ("SH02", "上海徐汇店", "上海"),
            ("HZ01", "杭州西湖店", "杭州"),
            ("HZ02", "杭州滨江店", "杭州"),
        ):
            store_ensure(code=code, name=name, city=city)
        fresh = coupon_template_create(
            template=CouponTemplate(
                name="门店专享券",
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                amount_off_fen=1_000,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=30,
                generic_code="STORE10",
            )
        )
        coupon_template_create(
            template=CouponTemplate(
                name="会员日满200减30",
                kind=CouponTemplate.Kind.AMOUNT_OFF,
                threshold_fen=20_000,
                amount_off_fen=3_000,
                validity_kind=CouponTemplate.ValidityKind.RELATIVE,
                valid_days=30,
                generic_code="VIP30",
                stock_total=100,
            )
        )

    desk = browser.new_context(**DESK)
    page = desk.new_page()
    login(page, url, "wang")
    page.goto(f"{url}/admin/workbench/members/{member.pk}/")
    form = page.locator("#wb-coupon-issue")
    form.locator("select[name=template]").select_option(label="会员日满200减30（满 ¥200.00 减 ¥30.00，剩余 100 张）")
    page.screenshot(path=SCREENSHOTS / "c17-workbench-issue-form.png", full_page=True)
    form.locator("button").click()
    page.wait_for_load_state()
    assert f"已发放「会员日满200减30」给会员 {member.member_no}。" in page.content()
    page.screenshot(path=SCREENSHOTS / "c18-workbench-issued.png", full_page=True)
    form = page.locator("#wb-coupon-issue")
    form.locator("select[name=template]").select_option(label="会员日满200减30（满 ¥200.00 减 ¥30.00，剩余 99 张）")
    form.locator("button").click()
    page.wait_for_load_state()
    assert "已提交品牌管理员审批" in page.content() and "已为其预留 1 张库存" in page.content()
    page.screenshot(path=SCREENSHOTS / "c19-workbench-issue-held.png", full_page=True)
    desk.close()

    desk = browser.new_context(**DESK)
    page = desk.new_page()
    login(page, url, f"admin@{live_brand.schema_name}.example")
    page.goto(f"{url}/admin/members/member/{member.pk}/change/")
    page.screenshot(path=SCREENSHOTS / "c20a-admin-member-page.png")
    page.click(f"a[href='/admin/coupons/coupontemplate/member/{member.pk}/issue/']")
    page.wait_for_load_state()
    assert "会员日满200减30（满 ¥200.00 减 ¥30.00，剩余 98 张）" in page.content()  # 1 issued, 1 reserved
    page.select_option("select[name=template]", label="夏日满减券（满 ¥100.00 减 ¥20.00，剩余 2 张）")
    page.screenshot(path=SCREENSHOTS / "c20-admin-member-issue.png", full_page=True)
    page.click("#coupons-page button[type=submit]")
    page.wait_for_load_state()
    assert f"已发放「夏日满减券」给会员 {member.member_no}。" in page.content()

    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.goto(f"{url}/admin/coupons/coupontemplate/{fresh.pk}/change/")
    page.screenshot(path=SCREENSHOTS / "c21a-template-store-picker-before.png", full_page=True)
    page.click("button[data-store-pick=city][data-city=杭州]")
    chosen = page.locator("[data-store-picker] .select2-selection__choice")
    assert chosen.count() == 2, (console, page.locator("[data-store-picker]").inner_html()[:3000])
    page.locator("[data-store-picker] .select2-search__field").fill("徐汇")
    page.wait_for_timeout(300)
    page.screenshot(path=SCREENSHOTS / "c21-template-store-picker.png", full_page=True)
    page.keyboard.press("Enter")
    page.click("button[name=_continue]")
    page.wait_for_load_state()
    with schema_context(live_brand.schema_name):
        assert sorted(fresh.stores.values_list("code", flat=True)) == ["HZ01", "HZ02", "SH02"]
    desk.close()
