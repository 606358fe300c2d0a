"""Reaching the member centre (issue 25): every marketing SMS carries 退订 that works (a reply
keyword and a signed link to the member's own preferences), the link withdraws with a
confirmation, the member's data copy reads in Chinese with brand-local times."""

import json
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from campaigns.messaging import sms_reply_receive, sms_text
from campaigns.sms import SmsReply
from consent.models import DataRequest, Purpose
from consent.selectors import members_contactable
from consent.services import data_request_complete, preference_link_path

from .conftest import PHONE

pytestmark = pytest.mark.django_db
SMS = Purpose.MARKETING_SMS


def test_every_marketing_sms_names_the_reply_keyword_and_the_members_own_link(member_a, client_a, client_b):
    text = sms_text(SimpleNamespace(body="会员日双倍积分", member_id=member_a.pk))

    assert text.startswith("会员日双倍积分") and "回T退订" in text
    url = re.search(r"https?://\S+", text).group(0)
    assert urlsplit(url).hostname == "alpha.localhost"
    path = urlsplit(url).path
    assert client_b.get(path).status_code == 404  # worthless on another brand's host

    page = client_a.get(path, **PHONE)
    assert page.status_code == 200 and "授权与隐私设置" in page.content.decode()
    withdrawn = client_a.post(path, {"action": "withdraw", "purpose": SMS}, **PHONE)
    confirmation = client_a.get(withdrawn["Location"], **PHONE).content.decode()
    assert "已撤回“短信营销”授权，立即生效" in confirmation or "已撤回" in confirmation
    assert not members_contactable(purpose=SMS).filter(pk=member_a.pk).exists()


def test_replying_t_withdraws_sms_marketing_at_once_and_twice_is_harmless(member_a):
    assert members_contactable(purpose=SMS).filter(pk=member_a.pk).exists()

    assert sms_reply_receive(SmsReply(reference="mo-1", mobile=member_a.mobile, text=" t ")) == 1
    assert not members_contactable(purpose=SMS).filter(pk=member_a.pk).exists()
    assert sms_reply_receive(SmsReply(reference="mo-2", mobile=member_a.mobile, text="T")) == 1
    assert sms_reply_receive(SmsReply(reference="mo-3", mobile=member_a.mobile, text="谢谢")) == 0


def test_the_members_data_copy_reads_in_chinese_as_a_page_and_a_file(member_a, client_a):
    path = preference_link_path(member_id=member_a.pk)
    client_a.post(path, {"action": "access"}, **PHONE)
    request = DataRequest.objects.get(member=member_a)
    data_request_complete(request_id=request.pk, actor="客服")
    export_path = f"{path}export/{request.pk}.json"
    mobile = member_a.mobile.removeprefix("+86")

    page = client_a.post(export_path, {"mobile": mobile, "format": "page"}).content.decode()
    assert "基本信息" in page and "授权记录" in page and member_a.member_no in page

    copy = json.loads(client_a.post(export_path, {"mobile": mobile, "format": "json"}).content)
    assert copy["基本信息"]["会员号"] == member_a.member_no and copy["基本信息"]["状态"] == "正常"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", copy["基本信息"]["入会时间"])
    assert {"身份标识", "授权记录", "订单", "积分明细"} <= set(copy)
