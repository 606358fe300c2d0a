"""Sign-in on the brand host (SMS one-time code, WeChat web authorisation through the fake WeChat
server over real HTTP), enrolment with consent for someone who is not a member, and the pages
behind sign-in."""

import datetime as dt
import re
from urllib.parse import urlsplit

import httpx
import pytest
import time_machine
from django.utils import timezone

from consent.models import ConsentRecord, Purpose
from crm.errors import AppError
from membercentre.services.links import member_centre_link_path
from membercentre.services.signin import OTP_MAX_ATTEMPTS, OTP_PER_IP_HOUR, otp_send, otp_verify
from members.models import Identity, Member

from .conftest import PHONE

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sms_after_commit(monkeypatch, sms_sent):
    """The SMS goes out after commit; the test's transaction never commits, so the callbacks of
    otp_send run when it returns (as they would at its commit)."""
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())


def sms_code(sms_sent: list) -> str:
    match = re.search(r"验证码为 (\d{6})", sms_sent[-1].body)
    assert match
    return match.group(1)


def test_sms_code_signs_a_member_in_and_the_card_shows_tier_points_and_a_code(member_a, client_a, sms_sent):
    response = client_a.post("/m/login/", {"mobile": member_a.mobile, "action": "send"}, **PHONE)
    assert response.status_code == 200 and "验证码已发送" in response.content.decode()
    assert sms_sent[-1].mobile == member_a.mobile

    response = client_a.post("/m/login/", {"mobile": member_a.mobile, "code": sms_code(sms_sent)}, **PHONE)
    assert response.status_code == 302 and response["Location"] == "/m/"

    page = client_a.get("/m/").content.decode()
    assert member_a.member_no in page and "可用积分" in page
    assert 'class="barcode"' in page and 'class="qr"' in page and 'id="member-code"' in page
    assert "我的优惠券" in page and "每日签到" in page and "邀请有礼" in page and "扫码领奖" in page


def test_pages_need_a_sign_in(client_a, member_a):
    for path in ("/m/", "/m/history/", "/m/code/", "/m/me/preferences/"):
        response = client_a.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/m/login/")


def test_a_session_of_brand_a_is_worthless_on_brand_b(member_a, client_a, client_b, sms_sent):
    client_a.post("/m/login/", {"mobile": member_a.mobile, "action": "send"}, **PHONE)
    client_a.post("/m/login/", {"mobile": member_a.mobile, "code": sms_code(sms_sent)}, **PHONE)
    cookie = client_a.cookies["sessionid"].value
    client_b.cookies["sessionid"] = cookie

    response = client_b.get("/m/")
    assert response.status_code == 302 and response["Location"].startswith("/m/login/")


def test_a_member_centre_link_signs_in_on_its_brand_only(member_a, client_a, client_b):
    path = member_centre_link_path(member_id=member_a.pk)

    assert client_b.get(path).status_code == 404
    assert client_a.get(path)["Location"] == "/m/"
    assert member_a.member_no in client_a.get("/m/").content.decode()


def test_sms_codes_expire_and_lock_after_wrong_tries(in_brand_a, sms_sent):
    otp_send(mobile="13900001111", ip="198.51.100.1", brand_name="阿尔法")
    code = sms_code(sms_sent)
    for _ in range(OTP_MAX_ATTEMPTS - 1):
        with pytest.raises(AppError) as wrong:
            otp_verify(mobile="13900001111", code="000000" if code != "000000" else "111111")
        assert wrong.value.code == "otp_invalid"
    with pytest.raises(AppError) as locked:
        otp_verify(mobile="13900001111", code="999999" if code != "999999" else "888888")
    assert locked.value.code == "otp_locked"
    with pytest.raises(AppError) as still_locked:  # even the right code is dead now
        otp_verify(mobile="13900001111", code=code)
    assert still_locked.value.code == "otp_locked"


def test_an_sms_code_expires(in_brand_a, sms_sent):
    otp_send(mobile="13900002222", ip="198.51.100.2", brand_name="阿尔法")
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=6), tick=False), pytest.raises(AppError) as late:
        otp_verify(mobile="13900002222", code=sms_code(sms_sent))
    assert late.value.code == "otp_expired"


def test_sms_sending_is_rate_limited_per_mobile_and_per_ip(in_brand_a, sms_sent):
    otp_send(mobile="13900003333", ip="198.51.100.3", brand_name="阿尔法")
    with pytest.raises(AppError) as again:
        otp_send(mobile="13900003333", ip="198.51.100.3", brand_name="阿尔法")
    assert again.value.code == "otp_throttled" and again.value.status == 429

    for n in range(OTP_PER_IP_HOUR):
        otp_send(mobile=f"139100{n:05d}", ip="198.51.100.4", brand_name="阿尔法")
    with pytest.raises(AppError) as per_ip:
        otp_send(mobile="13920000000", ip="198.51.100.4", brand_name="阿尔法")
    assert per_ip.value.code == "otp_throttled"


def _follow_wechat(client, fake_wechat) -> httpx.Response:
    """The browser's trip: our /m/login/wechat/ → WeChat's authorize page (the fake, real HTTP) →
    back to our callback with the code."""
    start = client.get("/m/login/wechat/")
    assert start.status_code == 302 and start["Location"].startswith(fake_wechat.authorize_url)
    wechat = httpx.get(start["Location"], follow_redirects=False)
    assert wechat.status_code == 302
    back = urlsplit(wechat.headers["Location"])
    return client.get(f"{back.path}?{back.query}", **PHONE)


def test_wechat_sign_in_of_a_new_person_ends_in_enrolment_with_consent(agreements_a, wechat_a, fake_wechat, client_a):
    fake_wechat.fake.queue_user("oNewPerson001", "uNewPerson001")

    response = _follow_wechat(client_a, fake_wechat)
    # perhaps a member by mobile already: offered to bind one first, or to enrol straight away
    assert response.status_code == 302 and response["Location"] == "/m/bind/"
    assert 'href="/m/join/"' in client_a.get("/m/bind/").content.decode()
    page = client_a.get("/m/join/").content.decode()
    assert "会员协议与隐私政策" in page and " checked" not in page  # unticked by default

    refused = client_a.post("/m/join/", {"purpose": [Purpose.MARKETING_SMS]}, **PHONE)
    assert refused.status_code == 400 and not Member.objects.exists()

    done = client_a.post("/m/join/", {"name": "王女士", "purpose": [Purpose.MEMBERSHIP]}, **PHONE)
    assert done.status_code == 302 and done["Location"] == "/m/"
    member = Identity.objects.get(kind="wechat_unionid", value="uNewPerson001").member
    assert Identity.objects.filter(member=member, kind="wechat_openid", value="oNewPerson001").exists()
    record = ConsentRecord.objects.get(member=member, purpose=Purpose.MEMBERSHIP)
    assert record.granted and record.channel == "member_page" and "MicroMessenger" in record.evidence["user_agent"]
    assert not ConsentRecord.objects.get(member=member, purpose=Purpose.MARKETING_SMS).granted
    assert "王女士" in client_a.get("/m/").content.decode()


def test_wechat_sign_in_finds_the_member_by_unionid(member_a, wechat_a, fake_wechat, client_a):
    Identity.objects.create(member=member_a, kind="wechat_unionid", value="uKnown0001")
    fake_wechat.fake.queue_user("oKnown0001", "uKnown0001")

    assert _follow_wechat(client_a, fake_wechat)["Location"] == "/m/"
    assert member_a.member_no in client_a.get("/m/").content.decode()


def test_a_forged_wechat_callback_is_refused(wechat_a, client_a):
    client_a.get("/m/login/wechat/")
    response = client_a.get("/m/login/wechat/callback/?code=abc&state=forged")
    assert response.status_code == 400 and "登录已失效" in response.content.decode()


def test_history_reads_in_words_and_preferences_open_for_the_member(member_a, client_a):
    client_a.get(member_centre_link_path(member_id=member_a.pk))
    assert "积分与消费记录" in client_a.get("/m/history/").content.decode()
    response = client_a.get("/m/me/preferences/")
    assert response.status_code == 302 and response["Location"].startswith("/m/preferences/")
    assert "授权与隐私设置" in client_a.get(response["Location"]).content.decode()


def test_the_code_fragment_gives_a_fresh_code_each_time(member_a, client_a):
    client_a.get(member_centre_link_path(member_id=member_a.pk))
    first = client_a.get("/m/code/").content.decode()
    second = client_a.get("/m/code/").content.decode()
    digits = re.compile(r'class="code-digits">([\d ]+)<')
    assert digits.search(first).group(1) != digits.search(second).group(1)
