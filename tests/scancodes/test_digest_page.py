"""窜货日报 in the back office: one brand day's digest on its own page — the mail's subject and body
as sent, to whom and when, the lines by dealer and the day's alerts — in the brand's time (a claim
at 22:30 in Shanghai is 22:30 there, not 14:30 UTC, and belongs to that Shanghai day). Fixed
clock: claims on 14 June 2027 at 22:30 Shanghai, the digest sent at 08:20 the next morning."""

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.core import mail

from members.roles import STORE_MANAGER
from scancodes.digest import diversion_digest_send_due
from scancodes.models import CodeBatch
from scancodes.services import code_claim
from tests.clock import SHANGHAI
from tests.conftest import BRAND_A, logged_in_client
from tests.factories import MemberFactory, StoreFactory
from tests.members.conftest import staff_user_create

from .conftest import GUANGZHOU, ctx, secret

EVENING = dt.datetime(2027, 6, 14, 22, 30, tzinfo=SHANGHAI)
MORNING = dt.datetime(2027, 6, 15, 8, 20, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def evening() -> Iterator[None]:
    with time_machine.travel(EVENING, tick=False):
        yield


def _divert(batch: CodeBatch) -> None:
    assert batch.first_serial is not None
    for n in range(2):
        serial = batch.first_serial + n
        code_claim(serial=serial, secret=secret(batch, serial), member=MemberFactory.create(), ctx=ctx(ip=GUANGZHOU))


def test_the_days_digest_page_shows_the_mail_and_the_alerts_in_brand_time(batch, admin_client_a, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _divert(batch)
    with time_machine.travel(MORNING, tick=False):
        assert diversion_digest_send_due(now=MORNING)["outcome"] == "sent"
        page = admin_client_a.get("/admin/scancodes/diversionalert/digest/?day=2027-06-14").content.decode()
        default = admin_client_a.get("/admin/scancodes/diversionalert/digest/").content.decode()
        sends = admin_client_a.get("/admin/scancodes/digestsend/").content.decode()
    (message,) = mail.outbox
    assert "22:30，扫码地 广州市" in message.body and "14:30" not in message.body
    assert message.subject in page and "浙江经销商（计划区域 浙江）：2 条，22:30，扫码地 广州市" in page
    assert "2027-06-14 22:30" in page and "广东省广州市" in page  # the alerts, brand-local
    assert "已发送" in page and "2027-06-15 08:20" in page and "admin@alpha.example" in page
    assert "北京时间" in page and "Asia/Shanghai" not in page
    assert "窜货日报 · 2027年6月14日" in default  # yesterday by default
    assert "/admin/scancodes/diversionalert/digest/?day=2027-06-14" in sends


def test_a_day_without_alerts_says_so_and_a_store_role_cannot_open_the_page(in_brand_a, admin_client_a):
    page = admin_client_a.get("/admin/scancodes/diversionalert/digest/?day=2027-06-10").content.decode()
    assert "当日没有窜货预警" in page and "尚未到发送时间" in page
    staff_user_create(store=StoreFactory.create(), role=STORE_MANAGER, username="manager@alpha.example")
    manager = logged_in_client(BRAND_A, "manager@alpha.example")
    assert manager.get("/admin/scancodes/diversionalert/digest/").status_code == 403
