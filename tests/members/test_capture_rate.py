"""Capture rate comes from the daily aggregates (by count and GMV, per day/channel/store) and is
never computed by scanning orders."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.services.capture_rate import capture_rate
from members.services.orders import order_post
from tests.factories import StoreFactory

from .loyalty_scene import member_with_unionid, program

DAY1 = dt.datetime(2026, 5, 1, 4, tzinfo=dt.UTC)  # 12:00 in Shanghai
DAY2 = DAY1 + dt.timedelta(days=1)


def post(no: str, amount: int, paid_at: dt.datetime, buyer: str | None = None, store=None, channel="store"):
    order_post(
        channel=channel,
        order_no=no,
        paid_at=paid_at,
        amount_fen=amount,
        store=store,
        buyer_kind="wechat_unionid" if buyer else None,
        buyer_value=buyer,
        actor="pos",
    )


def test_capture_rate_by_day_channel_and_store(in_brand_a):
    program()
    member_with_unionid("u-1")
    store = StoreFactory()
    post("1", 8_000, DAY1, "u-1", store)
    post("2", 2_000, DAY1, None, store)
    post("3", 5_000, DAY2, "u-1", channel="tmall")
    post("4", 5_000, DAY2, None, channel="tmall")

    with CaptureQueriesContext(connection) as ctx:
        by_day = capture_rate(date_from=DAY1.date(), date_to=DAY2.date(), group_by=("day",))
    assert not any("members_order" in q["sql"] for q in ctx.captured_queries)

    assert [(r.key["day"], r.orders_total, r.orders_member, r.order_rate_pct, r.gmv_rate_pct) for r in by_day] == [
        (dt.date(2026, 5, 1), 2, 1, 50.0, 80.0),
        (dt.date(2026, 5, 2), 2, 1, 50.0, 50.0),
    ]
    (store_row,) = capture_rate(date_from=DAY1.date(), date_to=DAY2.date(), group_by=("store",), store_id=store.pk)
    assert (store_row.gmv_total_fen, store_row.gmv_member_fen) == (10_000, 8_000)
    (total,) = capture_rate(date_from=DAY1.date(), date_to=DAY2.date(), group_by=())
    assert (total.orders_total, total.orders_member, total.gmv_total_fen) == (4, 2, 20_000)
    channels = capture_rate(date_from=DAY1.date(), date_to=DAY2.date(), group_by=("channel",))
    assert {r.key["channel"]: r.orders_total for r in channels} == {"store": 2, "tmall": 2}


def test_capture_rate_is_per_brand(brand_a, brand_b):
    connection.set_tenant(brand_a)
    program()
    post("1", 8_000, DAY1)
    connection.set_tenant(brand_b)
    (total,) = capture_rate(date_from=DAY1.date(), date_to=DAY2.date(), group_by=())
    assert total.orders_total == 0
