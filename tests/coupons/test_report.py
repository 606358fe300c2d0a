"""优惠券报表: issued / used / expired / returned per template, store and campaign, the discount and
the GMV of the orders that used them (net of refunds; an order that used two coupons counts once),
on the page in names and yuan, and as CSV and XLSX downloads with the same figures."""

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest

from campaigns.models import Campaign
from coupons.selectors import coupons_report
from coupons.services import coupon_issue, coupon_redeem, coupon_redemption_rollback, coupons_expire_due
from members.services.orders import order_post, order_refund
from tests.factories import MemberFactory, StoreFactory

from .scene import NOW, audit_clean, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]
URL = "/admin/coupons/coupontemplate/report/"


@pytest.fixture
def scene(in_brand_a):
    """满100减20 (A) and 免运费 (B); a campaign 618 issues A; write-offs at 上海店 and 杭州店."""
    sh, hz = StoreFactory.create(code="SH01", name="上海店"), StoreFactory.create(code="HZ01", name="杭州店")
    a = template(name="满100减20")
    b = template(name="免运费", kind="free_shipping", threshold_fen=0, amount_off_fen=0, generic_code="SHIP")
    short = template(name="三日券", generic_code="SHORT", valid_until_date=dt.date(2027, 6, 16))
    campaign = Campaign.objects.create(
        name="618 会员日", frequency=Campaign.Frequency.MONTHLY, day_of_month=18, time_of_day=dt.time(10, 0)
    )
    members = MemberFactory.create_batch(4)

    def give(tpl, member, key="admin:1", source="admin"):
        return coupon_issue(template_id=tpl.pk, member_id=member.pk, source=source, source_key=key, actor="t")

    def redeem(coupon, tpl_code, member, store, order_no, amount=15_000, shipping=0):
        return coupon_redeem(
            request_no=f"R-{coupon.pk}-{order_no}",
            code=tpl_code,
            member_id=member.pk,
            store_code=store.code,
            channel="store",
            order_no=order_no,
            order_amount_fen=amount,
            shipping_fen=shipping,
            actor="pos",
        ).redemption

    key = f"campaign:{campaign.pk}:1"
    a0, a1 = give(a, members[0], key, "campaign"), give(a, members[1], key, "campaign")
    a2 = give(a, members[2])
    b0 = give(b, members[0])
    give(short, members[3])
    # members[0] uses A and B on one order (O-1, ¥150 with ¥10 shipping) at 上海店.
    redeem(a0, "SUMMER20", members[0], sh, "O-1")
    redeem(b0, "SHIP", members[0], sh, "O-1", shipping=1_000)
    # members[1] uses A at 杭州店 (O-2, ¥200), later refunded ¥50 (partial: the coupon stays used).
    redeem(a1, "SUMMER20", members[1], hz, "O-2", amount=20_000)
    # members[2] uses A at 上海店, then the write-off is rolled back (returned).
    rolled = redeem(a2, "SUMMER20", members[2], sh, "O-3")
    coupon_redemption_rollback(redemption_id=rolled.pk, actor="pos")
    for order_no, amount in (("O-1", 15_000), ("O-2", 20_000), ("O-3", 15_000)):
        order_post(channel="store", order_no=order_no, paid_at=NOW, amount_fen=amount, actor="pos")
    order_refund(channel="store", order_no="O-2", refund_no="RF-1", amount_fen=5_000, refunded_at=NOW, actor="pos")
    coupons_expire_due(now=NOW + dt.timedelta(days=2))  # 三日券 ends 16 June
    return {"a": a, "b": b, "short": short, "campaign": campaign}


def _rows(by: str) -> dict[str, tuple]:
    return {
        row.label: (row.issued, row.used, row.expired, row.returned, row.discount_fen, row.gmv_fen)
        for row in coupons_report(by=by)
    }


def test_figures_per_template_store_and_campaign(scene):
    # A: 3 issued, 2 used, 1 returned; discount 20 + 20 - 5 (the partial refund's share); GMV 150 + 150.
    assert _rows("template") == {
        "满100减20": (3, 2, 0, 1, 3_500, 30_000),
        "免运费": (1, 1, 0, 0, 1_000, 15_000),
        "三日券": (1, 0, 1, 0, 0, 0),
    }
    # O-1 used two coupons at 上海店: its GMV counts once.
    assert _rows("store") == {
        "上海店": (3, 2, 0, 1, 3_000, 15_000),
        "杭州店": (1, 1, 0, 0, 1_500, 15_000),
        "未在门店核销": (1, 0, 1, 0, 0, 0),
    }
    assert _rows("campaign") == {
        "618 会员日": (2, 2, 0, 0, 3_500, 30_000),
        "非活动发放": (3, 1, 1, 1, 1_000, 15_000),
    }
    audit_clean()


def test_the_page_shows_names_and_yuan_and_the_downloads_the_same_figures(scene, admin_client_a):
    page = admin_client_a.get(URL, {"by": "campaign"}).content.decode()
    assert "618 会员日" in page and "¥35.00" in page and "¥300.00" in page
    assert f"campaign:{scene['campaign'].pk}" not in page  # a name, not the source key

    csv = admin_client_a.get(URL, {"by": "template", "format": "csv"})
    assert csv["Content-Disposition"] == 'attachment; filename="coupons-template.csv"'
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "编号,名称,发放,已使用,已过期,已退回,优惠金额（元）,使用订单 GMV（元）"
    assert f"{scene['a'].pk},满100减20,3,2,0,1,35.00,300.00" in lines

    xlsx = admin_client_a.get(URL, {"by": "store", "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["门店编号", "名称", "发放"]
    hz = next(row for row in rows if row[0] == "HZ01")
    assert hz[1:6] == ["杭州店", 1, 1, 0, 0] and Decimal(str(hz[6])) == Decimal("15") and Decimal(str(hz[7])) == 150
