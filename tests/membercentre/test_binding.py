"""A WeChat sign-in binds a mobile (issue 25): on /m/ through an SMS one-time code, in the
mini-program through getPhoneNumber (the fake WeChat server over real HTTP). The mobile's
member is found and linked (idempotently), a stranger enrols with both identities, and nobody
takes over another member's mobile. And a merged-away member's session, token, link and member
code follow the surviving member."""

import re
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import transaction

from crm.errors import AppError
from membercentre.models import MemberCodeResolution
from membercentre.services.binding import wechat_mobile_bind
from membercentre.services.codes import member_code_consume, member_code_issue, member_code_resolve
from membercentre.services.links import member_centre_link_path
from membercentre.services.member_tokens import member_token_issue, member_token_read
from membercentre.services.signin import SigninIdentity, miniprogram_config_save
from members.models import Identity, Member
from members.services.merge import member_merge
from tests.api.conftest import assert_problem, call, make_key
from tests.conftest import BRAND_A
from tests.consent.conftest import enrolled

from .conftest import PHONE

pytestmark = pytest.mark.django_db

MP_APP = "wxmini00000000000a"
MP_SECRET = "mini-secret-of-brand-a"


@pytest.fixture(autouse=True)
def _sms_after_commit(monkeypatch, sms_sent):
    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())


def _code(sms_sent: list) -> str:
    match = re.search(r"验证码为 (\d{6})", sms_sent[-1].body)
    assert match
    return match.group(1)


def _wechat_in(client, fake_wechat, openid: str, unionid: str):
    fake_wechat.fake.queue_user(openid, unionid)
    start = client.get("/m/login/wechat/")
    wechat = httpx.get(start["Location"], follow_redirects=False)
    back = urlsplit(wechat.headers["Location"])
    return client.get(f"{back.path}?{back.query}", **PHONE)


def _bind(client, mobile: str, sms_sent: list):
    sent = client.post("/m/bind/", {"mobile": mobile, "action": "send"}, **PHONE)
    assert sent.status_code == 200 and "验证码已发送" in sent.content.decode()
    return client.post("/m/bind/", {"mobile": mobile, "code": _code(sms_sent), "action": "verify"}, **PHONE)


def test_a_member_by_mobile_binds_their_wechat_and_is_found_by_it_next_time(
    member_a, wechat_a, fake_wechat, client_a, client, sms_sent
):
    arrived = _wechat_in(client_a, fake_wechat, "oBind0001", "uBind0001")
    assert arrived.status_code == 302 and arrived["Location"] == "/m/bind/"
    assert "绑定手机号" in client_a.get("/m/bind/").content.decode()

    bound = _bind(client_a, member_a.mobile, sms_sent)
    assert bound.status_code == 302 and bound["Location"] == "/m/"
    assert member_a.member_no in client_a.get("/m/").content.decode()
    kinds = set(Identity.objects.filter(member=member_a).values_list("kind", "value"))
    assert {("wechat_unionid", "uBind0001"), ("wechat_openid", "oBind0001")} <= kinds
    assert Member.objects.count() == 1

    # Next time WeChat alone finds the member; binding again changes nothing.
    client_a.post("/m/logout/")
    assert _wechat_in(client_a, fake_wechat, "oBind0001", "uBind0001")["Location"] == "/m/"
    identity = SigninIdentity(method="wechat", openid="oBind0001", unionid="uBind0001")
    member, _ = wechat_mobile_bind(identity=identity, mobile=member_a.mobile)
    assert member == member_a and Identity.objects.filter(member=member_a).count() == 3


def test_a_stranger_binds_a_new_mobile_and_enrols_with_both_identities(
    agreements_a, wechat_a, fake_wechat, client_a, sms_sent
):
    _wechat_in(client_a, fake_wechat, "oNew0002", "uNew0002")
    bound = _bind(client_a, "13911112222", sms_sent)
    assert bound.status_code == 302 and bound["Location"] == "/m/join/"
    join_page = client_a.get("/m/join/").content.decode()
    assert "已验证手机" in join_page and "2222" in join_page and "13911112222" not in join_page

    done = client_a.post("/m/join/", {"name": "李先生", "purpose": ["membership"]}, **PHONE)
    assert done.status_code == 302 and done["Location"] == "/m/"
    member = Member.objects.get()
    assert member.mobile == "+8613911112222"
    assert set(Identity.objects.filter(member=member).values_list("kind", flat=True)) == {
        "mobile",
        "wechat_unionid",
        "wechat_openid",
    }


def test_a_mobile_whose_member_has_another_wechat_is_refused_in_chinese(
    member_a, wechat_a, fake_wechat, client_a, sms_sent
):
    Identity.objects.create(member=member_a, kind="wechat_unionid", value="uOwner0001")
    _wechat_in(client_a, fake_wechat, "oThief0001", "uThief0001")

    refused = _bind(client_a, member_a.mobile, sms_sent)

    assert refused.status_code == 409
    assert "已绑定其他微信" in refused.content.decode()
    assert not Identity.objects.filter(value__in=["oThief0001", "uThief0001"]).exists()
    assert client_a.get("/m/")["Location"] == "/m/join/"  # still not signed in as member_a


def test_a_wechat_member_cannot_take_another_members_mobile(member_a, agreements_a):
    other = enrolled(mobile="13922223333")
    Identity.objects.create(member=other, kind="wechat_unionid", value="uOther0001")
    with pytest.raises(AppError) as refused:
        wechat_mobile_bind(identity=SigninIdentity(method="wechat", unionid="uOther0001"), mobile=member_a.mobile)
    assert refused.value.code == "member_centre_wechat_taken" and "另一位会员" in refused.value.message
    assert not Identity.objects.filter(member=other, kind="mobile").exists()


def test_the_bind_page_needs_a_wechat_sign_in(client_a, in_brand_a):
    assert client_a.get("/m/bind/")["Location"] == "/m/login/"


# --- the mini-program's getPhoneNumber ----------------------------------------------------------


@pytest.fixture
def miniprogram(wechat_a, fake_wechat):
    fake_wechat.fake.add_app(MP_APP, MP_SECRET)
    miniprogram_config_save(app_id=MP_APP, secret=MP_SECRET)
    return fake_wechat


def _phone_code(fake_wechat, phone: str) -> str:
    answer = httpx.post(fake_wechat.base_url + "_fake/phone_code", json={"app_id": MP_APP, "phone": phone})
    return answer.json()["code"]


def _session(client_a, key: str, **body):
    return call(
        client_a, "POST", "/api/v1/miniprogram/sessions", key=key, body={"evidence": {"request_id": "c2s"}, **body}
    )


def test_mini_program_phone_code_finds_the_member_and_links_the_openid(member_a, miniprogram, client_a, brand_a):
    key = make_key(BRAND_A, partner="小程序")
    code = _phone_code(miniprogram, member_a.mobile)

    session = _session(client_a, key, openid="oMini0003", unionid="uMini0003", phone_code=code)

    assert session.status_code == 201, session.content
    assert session.json()["member_no"] == member_a.member_no
    assert Identity.objects.filter(member=member_a, kind="wechat_openid", value="oMini0003").exists()
    assert "getuserphonenumber" in miniprogram.fake.calls and "cgi-bin/token" in miniprogram.fake.calls
    # Next time the openid alone signs in; a spent phone code is refused by WeChat.
    assert _session(client_a, key, openid="oMini0003").status_code == 201
    assert_problem(_session(client_a, key, openid="oMini0003", phone_code=code), 400, "miniprogram_phone_code_invalid")
    assert miniprogram.fake.calls.count("cgi-bin/token") == 1  # the interface token is cached


def test_mini_program_phone_code_of_a_stranger_hands_back_the_verified_mobile(agreements_a, miniprogram, client_a):
    key = make_key(BRAND_A, partner="小程序")
    refused = _session(client_a, key, openid="oMini0004", phone_code=_phone_code(miniprogram, "13944445555"))
    body = assert_problem(refused, 404, "not_a_member")
    assert body["fields"]["verified_mobile"] == ["+8613944445555"]
    assert not Identity.objects.filter(value="oMini0004").exists()


def test_mini_program_phone_of_a_member_with_another_unionid_is_refused(member_a, miniprogram, client_a):
    Identity.objects.create(member=member_a, kind="wechat_unionid", value="uOwner0005")
    key = make_key(BRAND_A, partner="小程序")
    refused = _session(
        client_a, key, openid="oMini0005", unionid="uOther0005", phone_code=_phone_code(miniprogram, member_a.mobile)
    )
    assert_problem(refused, 409, "member_centre_mobile_taken")
    assert not Identity.objects.filter(value__in=["oMini0005", "uOther0005"]).exists()


# --- a merged member's session, token, link and code follow the survivor ------------------------


@pytest.fixture
def merged_pair(member_a):
    survivor = enrolled(mobile="13955556666")
    return survivor, member_a


def test_a_merged_members_session_follows_to_the_survivor(merged_pair, client_a):
    survivor, merged = merged_pair
    client_a.get(member_centre_link_path(member_id=merged.pk))
    member_merge(survivor=survivor, merged=merged, actor="tester", reason="同一人两个账号")

    page = client_a.get("/m/")
    assert page.status_code == 200 and survivor.member_no in page.content.decode()
    # a link minted before the merge, too
    client_a.post("/m/logout/")
    assert client_a.get(member_centre_link_path(member_id=merged.pk))["Location"] == "/m/"
    assert survivor.member_no in client_a.get("/m/").content.decode()


def test_a_merged_members_token_and_code_name_the_survivor(merged_pair):
    survivor, merged = merged_pair
    token, _ = member_token_issue(member=merged, partner_id=1)
    code = member_code_issue(member_id=merged.pk).code
    other = member_code_issue(member_id=merged.pk).code
    member_merge(survivor=survivor, merged=merged, actor="tester", reason="同一人两个账号")

    assert member_token_read(token=token, partner_id=1) == survivor
    assert member_code_resolve(code=code, via="api", actor="pos") == survivor
    assert member_code_consume(code=other, via="api", actor="pos", reference="R1") == survivor
    assert set(MemberCodeResolution.objects.values_list("member_id", flat=True)) == {survivor.pk}
    with pytest.raises(AppError) as used:
        member_code_consume(code=other, via="api", actor="pos", reference="R2")
    assert used.value.code == "member_code_used"
