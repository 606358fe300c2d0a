"""The scan page, the partner API, export for the printer, the printer's import, and brand
isolation: another brand's codes are unknown on this host."""

import csv
import io
import json
import zipfile

from crm.db import connection
from members.models import Member
from scancodes import claim_keys, error_codes
from scancodes.models import Claim, CodeExport
from scancodes.services import batch_export, batch_generate, batch_import, code_claim
from tests.api.conftest import assert_problem, call, make_key
from tests.factories import IdentityFactory, MemberFactory
from tests.members.conftest import membership_version_ensure

from .conftest import HANGZHOU, ctx, secret

PHONE = {"REMOTE_ADDR": HANGZHOU, "HTTP_USER_AGENT": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0)"}


def test_the_scan_page_shows_authenticity_and_an_anonymous_scanner_enrols_and_claims(batch, client_a, brand_a):
    membership_version_ensure()
    serial = batch.first_serial
    page = client_a.get(f"/s/{serial}?k={secret(batch, serial)}", **PHONE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "龙井礼盒" in text and "浙江省杭州市，已被扫描 1 次" in text and "同意并领取" in text

    unticked = client_a.post(
        f"/s/{serial}", {"k": secret(batch, serial), "name": "张三", "mobile": "13800138000"}, **PHONE
    )
    assert unticked.status_code == 400 and "请阅读并勾选" in unticked.content.decode()
    connection.set_tenant(brand_a)
    assert not Member.objects.filter(mobile="+8613800138000").exists()

    done = client_a.post(
        f"/s/{serial}",
        {"k": secret(batch, serial), "name": "张三", "mobile": "13800138000", "consent_membership": "on"},
        **PHONE,
    )
    assert done.status_code == 200 and "获得 15 积分" in done.content.decode()
    connection.set_tenant(brand_a)
    member = Member.objects.get(mobile="+8613800138000")
    assert member.points_balance == 15 and Claim.objects.get(member=member).new_member
    # The same phone is now signed in: the next code is one tap.
    second = batch.first_serial + 1
    page = client_a.get(f"/s/{second}?k={secret(batch, second)}", **PHONE)
    assert "领取奖励" in page.content.decode()
    assert client_a.post(f"/s/{second}", {"k": secret(batch, second)}, **PHONE).status_code == 200
    connection.set_tenant(brand_a)
    member.refresh_from_db()
    assert member.points_balance == 30


def test_the_scan_page_refuses_a_wrong_secret(batch, client_a):
    page = client_a.get(f"/s/{batch.first_serial}?k=WRONGWRONGWRONGWRONG", **PHONE)
    assert page.status_code == 403 and "验证码不正确" in page.content.decode()


def test_another_brands_codes_are_unknown_on_this_host(batch, client_b, brand_b):
    page = client_b.get(f"/s/{batch.first_serial}?k={secret(batch, batch.first_serial)}", **PHONE)
    assert page.status_code == 404
    assert "未找到该防伪码" in page.content.decode()


def test_the_partner_api_claims_for_a_member_and_answers_already_claimed(batch, client_a, brand_a):
    member = MemberFactory.create()
    key = make_key("alpha")
    body = {
        "serial": batch.first_serial,
        "secret": secret(batch, batch.first_serial),
        "member_no": member.member_no,
        "ip": HANGZHOU,
    }
    response = call(client_a, "POST", "/api/v1/scancodes/claims", key=key, body=body)
    assert response.status_code == 201, response.content
    assert json.loads(response.content)["points"] == 15
    connection.set_tenant(brand_a)
    other = MemberFactory.create()
    second = call(
        client_a,
        "POST",
        "/api/v1/scancodes/claims",
        key=key,
        body={**body, "member_no": other.member_no},
        language="en",
    )
    problem = assert_problem(second, 409, error_codes.ALREADY_CLAIMED)
    assert problem["detail"] == "This code has already been claimed; each code is claimed once."
    connection.set_tenant(brand_a)
    verify = call(
        client_a,
        "POST",
        "/api/v1/scancodes/verify",
        key=key,
        body={"serial": batch.first_serial, "secret": secret(batch, batch.first_serial)},
    )
    assert json.loads(verify.content)["claimed"] is True


def test_export_is_limited_recorded_and_its_secrets_claim(in_brand_a, campaign):
    batch = batch_generate(sku="SKU-X", product_name="导出测试", quantity=7, actor="a", exports_allowed=2)
    export = batch_export(
        batch=batch, fmt="csv", actor="印务", ip="192.0.2.1", user_agent="UA", base_url="https://alpha.example"
    )
    rows = list(csv.reader(io.StringIO(b"".join(export.chunks).decode("utf-8-sig"))))
    assert rows[0] == ["序列号", "验证码", "扫码链接"] and len(rows) == 8
    serial, code_secret, url = rows[1]
    assert url == f"https://alpha.example/s/{serial}?k={code_secret}"
    assert claim_keys.secret_matches_generated(claim_keys.batch_key_open(batch.key_encrypted), int(serial), code_secret)

    archive = batch_export(batch=batch, fmt="zip", actor="印务", ip=None, user_agent="", base_url="https://a")
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.chunks))) as zipped:
        inner = zipped.read(zipped.namelist()[0]).decode("utf-8-sig")
    assert inner.count("\n") == 8
    try:
        batch_export(batch=batch, fmt="csv", actor="印务", ip=None, user_agent="", base_url="https://a")
        raise AssertionError("a third export was allowed")
    except Exception as exc:
        assert getattr(exc, "code", None) == error_codes.BATCH_EXPORT_EXHAUSTED
    assert list(CodeExport.objects.filter(batch=batch).values_list("seq", "actor")) == [(1, "印务"), (2, "印务")]


def test_a_printers_codes_are_stored_hashed_and_claimable(in_brand_a, campaign):
    content = b"serial,secret\n900000000001,ABCDEFGHJKLMNPQRSTUV\n900000000002,BCDEFGHJKLMNPQRSTUVW\n"
    batch = batch_import(content=content, filename="printer.csv", sku="SKU-P", product_name="印厂码", actor="a")
    assert batch.import_sha256 and batch.quantity == 2
    from scancodes.models import Code
    from scancodes.services import segment_create

    stored = Code.objects.get(serial=900000000001)
    assert b"ABCDEFGHJKLMNPQRSTUV" not in bytes(stored.secret_hash)
    segment_create(
        batch=batch, first_serial=900000000001, last_serial=900000000002, campaign=campaign, actor="a", activate=True
    )
    member = MemberFactory.create()
    assert code_claim(serial=900000000001, secret="abcd-efgh-jklm-npqr-stuv", member=member, ctx=ctx()).created
    again = b"serial,secret\n900000000002,CCCCCCCCCCCCCCCCCCCC\n"
    try:
        batch_import(content=again, filename="dup.csv", sku="SKU-P", product_name="印厂码", actor="a")
        raise AssertionError("a taken serial was imported")
    except Exception as exc:
        assert getattr(exc, "code", None) == error_codes.IMPORT_INVALID


def test_an_anonymous_scanner_with_a_members_mobile_is_not_told_who_that_member_is(batch, client_a, brand_a):
    membership_version_ensure()
    existing = MemberFactory.create(mobile="+8613800138001")
    IdentityFactory.create(member=existing, kind="mobile", value="+8613800138001")
    serial = batch.first_serial
    page = client_a.post(
        f"/s/{serial}",
        {"k": secret(batch, serial), "name": "李四", "mobile": "13800138001", "consent_membership": "on"},
        **PHONE,
    )
    text = page.content.decode()
    assert page.status_code == 409 and "该手机号已是会员" in text and existing.member_no not in text
    connection.set_tenant(brand_a)
    from scancodes.models import Code

    assert Code.objects.get(serial=serial).claimed_member_id is None
