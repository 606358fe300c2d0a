"""The consent back office through the test client on the brand host, logged in as the brand's
admin: the same rules as the services, shown in Chinese."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.models import (
    Agreement,
    AgreementVersion,
    ConsentRecord,
    ConsentSession,
    DataRequest,
    PIAccessLog,
    Purpose,
)
from consent.services import data_request_create, pi_access_log
from members.models import Member
from tests.consent.conftest import MARKETING, enrolled
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
SMS = Purpose.MARKETING_SMS


def _draft(admin_client, agreement: Agreement, **overrides):
    data = {"agreement": agreement.pk, "text": "营销授权 v2 正文", "purposes": MARKETING, "data_categories": ""}
    data.update(overrides)
    return admin_client.post("/admin/consent/agreementversion/add/", data)


def test_admin_drafts_and_publishes_a_version_then_it_is_read_only(agreements_a, admin_client_a):
    member = enrolled(granted=[SMS])
    marketing = Agreement.objects.get(code="marketing")

    assert _draft(admin_client_a, marketing, material_change="on").status_code == 302
    draft = AgreementVersion.objects.get(agreement=marketing, version=2)
    assert not draft.is_published

    response = admin_client_a.post(
        "/admin/consent/agreementversion/",
        {"action": "publish", "_selected_action": [draft.pk]},
        follow=True,
    )
    assert "已发布" in response.content.decode() and "需重新同意" in response.content.decode()
    draft.refresh_from_db()
    assert draft.is_published and draft.published_by == "admin@alpha.example"
    assert not Member.objects.filter(pk=member.pk, consent_states__purpose=SMS, consent_states__needs_reconsent=False)

    # Published: the change page shows it read-only and a POST changes nothing.
    page = admin_client_a.get(f"/admin/consent/agreementversion/{draft.pk}/change/")
    assert page.status_code == 200 and 'name="text"' not in page.content.decode()
    admin_client_a.post(
        f"/admin/consent/agreementversion/{draft.pk}/change/",
        {"agreement": marketing.pk, "text": "被改掉", "purposes": MARKETING},
    )
    draft.refresh_from_db()
    assert draft.text == "营销授权 v2 正文"


def test_admin_shows_why_a_third_party_draft_is_refused(agreements_a, admin_client_a):
    sharing = Agreement.objects.get(code="share")
    before = AgreementVersion.objects.count()

    response = _draft(admin_client_a, sharing, purposes=[Purpose.THIRD_PARTY_SHARE], recipient="")

    assert response.status_code == 200 and "接收方名称" in response.content.decode()
    assert AgreementVersion.objects.count() == before


def test_consent_records_are_listed_filtered_and_searched_but_never_editable(agreements_a, admin_client_a):
    member = enrolled(granted=[SMS])
    other = enrolled()

    listing = admin_client_a.get("/admin/consent/consentrecord/", {"purpose": SMS, "granted__exact": "1"})
    assert listing.status_code == 200 and member.member_no in listing.content.decode()
    assert other.member_no not in listing.content.decode()
    found = admin_client_a.get("/admin/consent/consentrecord/", {"q": other.member_no}).content.decode()
    assert other.member_no in found and member.member_no not in found
    assert member.name not in listing.content.decode()  # member numbers only, no names

    record = ConsentRecord.objects.filter(member=member).first()
    assert admin_client_a.get("/admin/consent/consentrecord/add/").status_code == 403
    assert admin_client_a.post(f"/admin/consent/consentrecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ConsentRecord.objects.filter(pk=record.pk).exists()


def test_staff_open_a_session_and_show_its_qr_code(agreements_a, admin_client_a, client_a):
    staff = StaffFactory()

    response = admin_client_a.post("/admin/consent/consentsession/add/", {"mode": "device", "staff": staff.pk})
    session = ConsentSession.objects.get()
    page = admin_client_a.get(response["Location"]).content.decode()

    assert "<svg" in page and "/m/consent/" in page
    link = page.split('target="_blank" rel="noopener">', 1)[1].split("<", 1)[0]
    assert client_a.get(link.replace("http://alpha.localhost", "")).status_code == 200
    assert session.staff == staff and session.status == ConsentSession.Status.OPEN


def test_staff_record_a_paper_consent_with_its_reference(agreements_a, admin_client_a):
    staff = StaffFactory()
    form = {"mode": "paper", "staff": staff.pk, "ticked": [Purpose.MEMBERSHIP, SMS]}

    refused = admin_client_a.post("/admin/consent/consentsession/add/", form, follow=True)
    assert "纸质授权书编号" in refused.content.decode() and not ConsentSession.objects.exists()

    admin_client_a.post("/admin/consent/consentsession/add/", {**form, "paper_reference": "P-0001"})
    session = ConsentSession.objects.get()
    assert session.status == ConsentSession.Status.SUBMITTED and session.evidence["paper"] is True


def test_data_requests_overdue_first_and_refusal_needs_a_reason(agreements_a, admin_client_a):
    fresh = data_request_create(member_id=enrolled().pk, kind="access", channel="admin", actor="t")
    late = data_request_create(member_id=enrolled().pk, kind="access", channel="admin", actor="t")
    DataRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(days=1))

    listing = admin_client_a.get("/admin/consent/datarequest/").content.decode()
    assert listing.index(f"/{late.pk}/change/") < listing.index(f"/{fresh.pk}/change/")

    admin_client_a.post(
        "/admin/consent/datarequest/", {"action": "refuse", "_selected_action": [fresh.pk], "reason": ""}
    )
    fresh.refresh_from_db()
    assert fresh.status == DataRequest.Status.PENDING

    admin_client_a.post(
        "/admin/consent/datarequest/",
        {"action": "refuse", "_selected_action": [fresh.pk], "reason": "无法核实申请人身份"},
    )
    fresh.refresh_from_db()
    assert fresh.status == DataRequest.Status.REFUSED and fresh.events.filter(action="refused").exists()


def test_completing_an_access_request_lets_staff_download_the_copy_and_logs_it(agreements_a, admin_client_a):
    member = enrolled(granted=[SMS])
    request = data_request_create(member_id=member.pk, kind="access", channel="admin", actor="t")

    admin_client_a.post("/admin/consent/datarequest/", {"action": "complete", "_selected_action": [request.pk]})
    response = admin_client_a.get(f"/admin/consent/datarequest/{request.pk}/export/")

    assert response.status_code == 200 and response.json()["profile"]["member_no"] == member.member_no
    log = PIAccessLog.objects.get(member=member)
    assert log.username == "admin@alpha.example" and log.fields == ["export"]


def test_admin_registers_a_deletion_and_completing_it_erases_the_member(agreements_a, admin_client_a):
    member = enrolled(granted=[SMS])

    admin_client_a.post("/admin/consent/datarequest/add/", {"member_no": member.member_no, "kind": "deletion"})
    request = DataRequest.objects.get(member=member)
    admin_client_a.post("/admin/consent/datarequest/", {"action": "complete", "_selected_action": [request.pk]})

    member.refresh_from_db()
    assert member.status == Member.Status.ERASED and member.mobile == ""


def test_pi_access_log_is_searchable_and_append_only(agreements_a, admin_client_a):
    from django.contrib.auth import get_user_model

    member = enrolled()
    user = get_user_model().objects.get(username="admin@alpha.example")
    entry = pi_access_log(user=user, member=member, fields=["mobile", "name"], context="admin:member_change")

    page = admin_client_a.get("/admin/consent/piaccesslog/", {"q": member.member_no}).content.decode()
    assert "admin:member_change" in page and "手机号" in page
    with pytest.raises(IntegrityError), transaction.atomic():
        PIAccessLog.objects.filter(pk=entry.pk).update(fields=["name"])
    with pytest.raises(IntegrityError), transaction.atomic():
        PIAccessLog.objects.filter(pk=entry.pk).delete()


def test_one_brands_admin_sees_nothing_of_the_other(agreements_a, admin_client_b):
    member = enrolled(granted=[SMS])
    data_request_create(member_id=member.pk, kind="access", channel="admin", actor="t")
    marketing = Agreement.objects.get(code="marketing")

    for page in ("consentrecord", "datarequest", "consentstate"):
        assert member.member_no not in admin_client_b.get(f"/admin/consent/{page}/").content.decode()
    agreements_b = admin_client_b.get("/admin/consent/agreement/").content.decode()
    assert f"/admin/consent/agreement/{marketing.pk}/change/" not in agreements_b  # beta has its template only
    assert "/admin/consent/agreement/1/change/" in agreements_b
