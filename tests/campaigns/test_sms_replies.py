"""The SMS provider's reply callback (上行短信, issue 25) over real HTTP: a signed push of a 退订
reply to the brand's host withdraws SMS marketing for that mobile in that brand only, once per
provider message id; a push with a wrong signature, or too old, changes nothing.

It commits (a server thread answers on its own connection), so it runs in a throw-away brand."""

import json
import threading
import time
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections
from django_tenants.utils import schema_context

from campaigns.models import SmsInboundReply
from campaigns.sms import callback_signature
from consent.models import ConsentRecord
from consent.selectors import members_contactable
from members.models import Identity, IdentityKind
from tests.conftest import BRAND_B
from tests.members.loyalty_scene import throwaway_brand

from .scenes import consenting_member, marketing_agreement_publish

SECRET = "test-sms-callback-secret"
reply_brand = throwaway_brand


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _ThreadedServer(WSGIServer):
    def process_request(self, request, client_address):  # one connection per request, closed after
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)
            connections.close_all()


@pytest.fixture
def http_server() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, WSGIHandler(), server_class=_ThreadedServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def _push(port: int, host: str, replies: list[dict], *, secret: str = SECRET, age: int = 0) -> httpx.Response:
    body = json.dumps({"replies": replies}).encode()
    timestamp = str(int(time.time()) - age)
    return httpx.post(
        f"http://127.0.0.1:{port}/sms/replies/",
        content=body,
        headers={
            "Host": host,
            "Content-Type": "application/json",
            "X-Sms-Timestamp": timestamp,
            "X-Sms-Signature": callback_signature(secret=secret, timestamp=timestamp, body=body),
        },
        timeout=30,
    )


def test_a_signed_td_reply_withdraws_sms_marketing_once_in_its_brand(reply_brand, http_server):
    with schema_context(reply_brand.schema_name):
        marketing_agreement_publish()
        member = consenting_member("marketing_sms", "marketing_wecom", mobile="+8613966667777")
        Identity.objects.get_or_create(member=member, kind=IdentityKind.MOBILE, value=member.mobile)
    host = f"{reply_brand.schema_name}.localhost"
    td = {"msgid": "up-0001", "mobile": "13966667777", "text": " td "}

    forged = _push(http_server, host, [td], secret="not-the-secret")
    stale = _push(http_server, host, [td], age=3600)
    assert forged.status_code == 403 and stale.status_code == 403
    with schema_context(reply_brand.schema_name):
        assert members_contactable(purpose="marketing_sms").filter(pk=member.pk).exists()
        assert not SmsInboundReply.objects.exists()

    first = _push(http_server, host, [td, {"msgid": "up-0002", "mobile": "13966667777", "text": "谢谢"}])
    again = _push(http_server, host, [td])  # the provider retries its push
    assert first.status_code == 200 and first.json() == {"code": 0, "msg": "ok"}
    assert again.status_code == 200

    with schema_context(reply_brand.schema_name):
        assert not members_contactable(purpose="marketing_sms").filter(pk=member.pk).exists()
        assert members_contactable(purpose="marketing_wecom").filter(pk=member.pk).exists()  # only SMS
        withdrawals = ConsentRecord.objects.filter(member=member, purpose="marketing_sms", granted=False)
        assert withdrawals.count() == 1 and withdrawals.get().evidence["partner_reference"] == "up-0001"
        assert dict(SmsInboundReply.objects.values_list("provider_msgid", "withdrawn")) == {
            "up-0001": 1,
            "up-0002": 0,
        }


def test_a_reply_on_another_brands_host_touches_nothing_here(reply_brand, http_server):
    with schema_context(reply_brand.schema_name):
        marketing_agreement_publish()
        member = consenting_member("marketing_sms", mobile="+8613977778888")
        Identity.objects.get_or_create(member=member, kind=IdentityKind.MOBILE, value=member.mobile)

    try:
        pushed = _push(http_server, f"{BRAND_B}.localhost", [{"msgid": "up-b-1", "mobile": "13977778888", "text": "T"}])
        assert pushed.status_code == 200
        with schema_context(BRAND_B):
            assert SmsInboundReply.objects.get(provider_msgid="up-b-1").withdrawn == 0  # nobody there
    finally:
        with schema_context(BRAND_B):  # it committed in the shared brand: leave it as found
            SmsInboundReply.objects.filter(provider_msgid="up-b-1").delete()
    with schema_context(reply_brand.schema_name):
        assert members_contactable(purpose="marketing_sms").filter(pk=member.pk).exists()
        assert not SmsInboundReply.objects.exists()
