"""Member-facing pages through the test client on the brand's host: the in-store consent page on
the customer's phone, and the preferences page reached by a signed, expiring link."""

import json
import time
from unittest import mock

import pytest
from django.core import signing
from django_tenants.utils import schema_context

from consent.models import ConsentRecord, ConsentSession, DataRequest, Purpose
from consent.selectors import members_contactable
from consent.services import (
    consent_enrolment_record,
    consent_enrolment_validate,
    consent_session_consume,
    consent_session_open,
    consent_session_path,
    consent_session_record_paper,
    data_request_complete,
    member_erase,
    preference_link_path,
)
from crm.errors import AppError
from tests.consent.conftest import enrolled
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db
SMS = Purpose.MARKETING_SMS
PHONE = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0)"}


@pytest.fixture
def session_a(agreements_a):
    staff = StaffFactory()
    session = consent_session_open(staff_id=staff.pk, actor="店长")
    return session, consent_session_path(session=session)


def test_consent_page_shows_every_agreement_with_nothing_ticked(session_a, client_a):
    _, path = session_a

    page = client_a.get(path, **PHONE).content.decode()

    assert "阿尔法咖啡" in page and "会员协议与隐私政策" in page and "营销授权" in page
    assert "上海某某物流有限公司" in page  # third-party sharing names the recipient
    assert page.count('name="purpose"') == 6 and " checked" not in page  # unticked by default


def test_customer_decisions_carry_the_phones_evidence_into_enrolment(session_a, client_a):
    session, path = session_a

    response = client_a.post(path, {"purpose": [Purpose.MEMBERSHIP, SMS]}, **PHONE)
    assert response.status_code == 302
    assert "已收到您的选择" in client_a.get(path).content.decode()

    # What member_enroll does, inside its transaction:
    member = MemberFactory()
    decisions, evidence = consent_session_consume(session_id=session.pk, member_id=member.pk)
    consent_enrolment_validate(decisions=decisions, evidence=evidence, birthday=None)
    consent_enrolment_record(member_id=member.pk, decisions=decisions, evidence=evidence, actor="导购")

    sms = ConsentRecord.objects.get(member=member, purpose=SMS)
    assert sms.granted and sms.channel == "store"
    assert sms.evidence["ip"] == "203.0.113.7" and "iPhone" in sms.evidence["user_agent"]
    assert sms.evidence["staff_id"] == session.staff_id and sms.evidence["consent_session"] == str(session.pk)
    assert not ConsentRecord.objects.get(member=member, purpose=Purpose.MARKETING_WECOM).granted
    assert set(members_contactable(purpose=SMS).values_list("pk", flat=True)) == {member.pk}


def test_a_session_enrols_once(session_a, client_a):
    session, path = session_a
    client_a.post(path, {"purpose": [Purpose.MEMBERSHIP]}, **PHONE)
    consent_session_consume(session_id=session.pk, member_id=MemberFactory().pk)

    with pytest.raises(AppError) as refused:
        consent_session_consume(session_id=session.pk, member_id=MemberFactory().pk)
    assert refused.value.code == "consent_session_closed"


def test_membership_must_be_ticked_and_nothing_is_saved_otherwise(session_a, client_a):
    session, path = session_a

    response = client_a.post(path, {"purpose": [SMS]}, **PHONE)

    assert response.status_code == 400 and "会员协议" in response.content.decode()
    session.refresh_from_db()
    assert session.status == ConsentSession.Status.OPEN and session.decisions == []


def test_a_declared_minor_needs_the_guardian(session_a, client_a):
    session, path = session_a

    response = client_a.post(path, {"purpose": [Purpose.MEMBERSHIP], "minor": "1"}, **PHONE)
    assert response.status_code == 400
    client_a.post(
        path,
        {"purpose": [Purpose.MEMBERSHIP], "minor": "1", "guardian_name": "王芳", "guardian_relation": "母亲"},
        **PHONE,
    )
    session.refresh_from_db()
    assert session.evidence["guardian"]["name"] == "王芳"


def test_the_decision_cannot_be_changed_by_posting_again(session_a, client_a):
    session, path = session_a
    client_a.post(path, {"purpose": [Purpose.MEMBERSHIP]}, **PHONE)
    client_a.post(path, {"purpose": [Purpose.MEMBERSHIP, SMS]}, **PHONE)

    session.refresh_from_db()
    assert {d["purpose"] for d in session.decisions if d["granted"]} == {Purpose.MEMBERSHIP}


def test_session_link_of_one_brand_is_useless_on_another(session_a, client_b):
    _, path = session_a
    assert client_b.get(path).status_code == 404


def test_paper_consent_needs_the_forms_reference_and_is_flagged(agreements_a):
    staff = StaffFactory()
    with pytest.raises(AppError):
        consent_session_record_paper(staff_id=staff.pk, ticked=[Purpose.MEMBERSHIP], paper_reference=" ", actor="x")

    session = consent_session_record_paper(
        staff_id=staff.pk, ticked=[Purpose.MEMBERSHIP], paper_reference="PAPER-2026-0001", actor="店长"
    )
    member = MemberFactory()
    decisions, evidence = consent_session_consume(session_id=session.pk, member_id=member.pk)
    consent_enrolment_record(member_id=member.pk, decisions=decisions, evidence=evidence, actor="店长")
    record = ConsentRecord.objects.get(member=member, purpose=Purpose.MEMBERSHIP)
    assert record.evidence["paper"] is True and record.evidence["paper_reference"] == "PAPER-2026-0001"


# --- preferences page -----------------------------------------------------------------------


def test_member_withdraws_and_grants_in_one_tap(agreements_a, client_a):
    member = enrolled(granted=[SMS])
    path = preference_link_path(member_id=member.pk)

    page = client_a.get(path).content.decode()
    assert member.member_no in page and "已同意" in page and member.mobile not in page

    assert client_a.post(path, {"action": "withdraw", "purpose": SMS}, **PHONE).status_code == 302
    assert not members_contactable(purpose=SMS).filter(pk=member.pk).exists()
    withdrawal = ConsentRecord.objects.filter(member=member, purpose=SMS).latest("id")
    assert not withdrawal.granted and withdrawal.channel == "member_page"
    assert withdrawal.evidence["ip"] == "203.0.113.7"

    version = agreements_a.marketing.pk
    client_a.post(path, {"action": "grant", "purpose": Purpose.MARKETING_WECOM, "version": version}, **PHONE)
    assert members_contactable(purpose=Purpose.MARKETING_WECOM).filter(pk=member.pk).exists()


def test_forged_link_is_refused(agreements_a, client_a):
    member = enrolled(granted=[SMS])
    other = enrolled()
    path = preference_link_path(member_id=member.pk)
    token = path.rstrip("/").rsplit("/", 1)[1]
    forged = path.replace(token, token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"))

    assert client_a.get(forged).status_code == 404
    assert client_a.post(forged, {"action": "withdraw", "purpose": SMS}).status_code == 404
    # A link is also not a key to anybody else: the member id is inside the signature, so the
    # member's signature and timestamp on a payload naming the other member open nothing.
    _, stamp, signature = token.rsplit(":", 2)
    others_payload = signing.dumps({"m": other.pk, "n": "0" * 16}, compress=True).rsplit(":", 2)[0]
    retargeted = path.replace(token, f"{others_payload}:{stamp}:{signature}")
    page = client_a.get(retargeted)
    assert page.status_code == 404 and str(other.member_no) not in page.content.decode()
    assert client_a.post(retargeted, {"action": "withdraw", "purpose": Purpose.MEMBERSHIP}).status_code == 404
    assert members_contactable(purpose=SMS).filter(pk=member.pk).exists()
    assert members_contactable(purpose=Purpose.MEMBERSHIP).filter(pk=other.pk).exists()


def test_expired_link_cannot_be_replayed(agreements_a, client_a):
    member = enrolled(granted=[SMS])
    eight_days_ago = time.time() - 8 * 24 * 3600
    with mock.patch("time.time", return_value=eight_days_ago):
        path = preference_link_path(member_id=member.pk)

    assert client_a.get(path).status_code == 410
    assert client_a.post(path, {"action": "withdraw", "purpose": SMS}).status_code == 410
    assert members_contactable(purpose=SMS).filter(pk=member.pk).exists()


def test_link_of_one_brand_is_refused_on_another_brands_host(agreements_a, client_b):
    member = enrolled(granted=[SMS])
    path = preference_link_path(member_id=member.pk)
    with schema_context("beta"):
        MemberFactory(pk=member.pk)  # same id in beta: still refused (the salt names the brand)

    assert client_b.get(path).status_code == 404
    assert client_b.post(path, {"action": "withdraw", "purpose": SMS}).status_code == 404
    with schema_context("beta"):
        assert not ConsentRecord.objects.exists()
    with schema_context("alpha"):
        assert members_contactable(purpose=SMS).filter(pk=member.pk).exists()


def test_data_requests_from_the_page_are_not_duplicated_by_replay(agreements_a, client_a):
    member = enrolled()
    path = preference_link_path(member_id=member.pk)

    for _ in range(2):
        client_a.post(path, {"action": "access"})
    refused = client_a.post(path, {"action": "deletion"})  # not confirmed

    assert DataRequest.objects.filter(member=member, kind="access").count() == 1
    assert refused.status_code == 400 and not DataRequest.objects.filter(kind="deletion").exists()
    client_a.post(path, {"action": "deletion", "confirm": "1"})
    client_a.post(path, {"action": "deletion", "confirm": "1"})
    assert DataRequest.objects.filter(member=member, kind="deletion").count() == 1


def test_member_downloads_the_copy_once_the_request_is_completed(agreements_a, client_a):
    member = enrolled(granted=[SMS])
    path = preference_link_path(member_id=member.pk)
    client_a.post(path, {"action": "access"})
    request = DataRequest.objects.get(member=member)
    export_path = f"{path}export/{request.pk}.json"

    assert client_a.get(export_path).status_code == 404  # not completed yet
    data_request_complete(request_id=request.pk, actor="客服")
    assert "下载数据副本" in client_a.get(path).content.decode()
    # The link alone is not enough: the member confirms the full number the page shows masked.
    confirm = client_a.get(export_path)
    assert confirm.status_code == 200 and "application/json" not in confirm["Content-Type"]
    assert member.mobile not in confirm.content.decode()
    assert client_a.post(export_path, {"mobile": "13900000000"}).status_code == 400
    assert not request.events.filter(action="export_downloaded").exists()
    export = json.loads(client_a.post(export_path, {"mobile": member.mobile.removeprefix("+86")}).content)

    # the member's copy reads in Chinese, with brand-local times (issue 25)
    assert export["基本信息"]["会员号"] == member.member_no
    assert [c["目的"] for c in export["授权记录"] if c["决定"] == "同意"].count(Purpose(SMS).label) == 1
    assert "+" not in export["生成时间"] and "T" not in export["生成时间"]
    assert request.events.filter(action="export_downloaded").exists()


def test_guessing_the_mobile_for_the_copy_locks_the_download(agreements_a, client_a):
    member = enrolled()
    path = preference_link_path(member_id=member.pk)
    client_a.post(path, {"action": "access"})
    request = DataRequest.objects.get(member=member)
    data_request_complete(request_id=request.pk, actor="客服")
    export_path = f"{path}export/{request.pk}.json"

    for guess in range(5):
        assert client_a.post(export_path, {"mobile": f"1390000000{guess}"}).status_code == 400
    locked = client_a.post(export_path, {"mobile": member.mobile})

    assert locked.status_code == 429
    assert not request.events.filter(action="export_downloaded").exists()


def test_link_of_an_erased_member_is_gone(agreements_a, client_a):
    member = enrolled(granted=[SMS])
    path = preference_link_path(member_id=member.pk)
    member_erase(member_id=member.pk, actor="客服")

    assert client_a.get(path).status_code == 410
