"""No one consents to a template: a published agreement names the processor and how to reach it
(PIPL art. 17), so

- no version whose text still has a 【…】 blank is ever published (service, admin, database);
- while a brand has no complete membership agreement in force, every enrolment path refuses with
  `consent_membership_agreement_incomplete` and writes nothing; the brand admin is told where the
  agreements are managed, completes the draft, publishes it, and enrolment works;
- brands that published the old template before this rule (migration 0006) are completed from
  their contacts if the platform has them, and otherwise refuse enrolment until their admin acts.
Brand B never notices any of it.
"""

import datetime as dt
import importlib
import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from consent.agreement_text import MEMBERSHIP_TEMPLATE
from consent.models import Agreement, AgreementVersion, ConsentRecord, ConsentSession, ConsentState, Purpose
from consent.services import (
    agreement_create,
    agreement_version_draft_save,
    agreement_version_publish,
    consent_enrolment_record,
    consent_session_open,
    consent_session_path,
    consent_session_record_paper,
    membership_version_current,
)
from consent.types import ConsentDecision, ConsentEvidence
from crm.db import connection
from crm.errors import AppError
from crm.tenancy.models import Brand
from crm.tenancy.services import brand_provision
from members.models import Member, Staff
from members.services.members import member_enroll
from tests.api.conftest import call, enrol_body, make_key
from tests.conftest import BRAND_A, BRAND_B, brand_host, host_client, logged_in_client
from tests.factories import MemberFactory, StaffFactory, StoreFactory

pytestmark = pytest.mark.django_db

INCOMPLETE = "consent_membership_agreement_incomplete"
PLACEHOLDERS = "consent_agreement_placeholders"
GAMMA = "gamma"
GAMMA_ADMIN = "boss@gamma.example"
# What the template looked like when migration 0005 published it (before this rule).
OLD_TEMPLATE = MEMBERSHIP_TEMPLATE.replace("会员协议与隐私政策", "会员协议与隐私政策（模板）", 1)

migration_0006 = importlib.import_module("consent.migrations.0006_membership_agreement_without_placeholders")


def membership_draft(text: str) -> AgreementVersion:
    agreement = Agreement.objects.get(code="membership")
    return agreement_version_draft_save(agreement_id=agreement.pk, text=text, purposes=[Purpose.MEMBERSHIP])


def enrol(*, mobile: str = "13900000001", version: AgreementVersion | None = None) -> Member:
    version = version or membership_version_current() or AgreementVersion.objects.order_by("-version").first()
    assert version is not None
    return member_enroll(
        name="顾客",
        mobile=mobile,
        decisions=[ConsentDecision(purpose="membership", granted=True, version_id=version.pk)],
        evidence=ConsentEvidence(channel="admin"),
        actor="tester",
    )


@pytest.fixture
def incomplete_brand(db) -> Iterator[Brand]:
    """Brand gamma, provisioned without its contacts (so its membership agreement is a draft of
    the template), with a store and a member of staff; the connection is in its schema."""
    brand = brand_provision(
        slug=GAMMA, name="伽马服饰", domain=brand_host(GAMMA), admin_email=GAMMA_ADMIN, admin_password="Gamma-2026-x"
    ).brand
    connection.set_tenant(brand)
    StaffFactory.create(store=StoreFactory.create(code="G01", name="伽马一店"), name="顾导购", wecom_userid="gu")
    yield brand
    connection.set_schema_to_public()


def legacy_published(version: AgreementVersion, *, text: str = OLD_TEMPLATE) -> AgreementVersion:
    """Make `version` what brands had before this rule: the template published as it was. The
    database refuses that now, so its guard is lifted for this one write (inside the test's
    transaction, rolled back with it)."""
    with connection.cursor() as cursor:
        # Triggers do not fire in replica mode (superuser only, reset below, rolled back anyway).
        cursor.execute("SET LOCAL session_replication_role = replica")
        now = timezone.now()
        AgreementVersion.objects.filter(pk=version.pk).update(text=text, published_at=now, effective_at=now)
        cursor.execute("SET LOCAL session_replication_role = origin")
    version.refresh_from_db()
    return version


def migrate_0006() -> None:
    """Run migration 0006's data step on the current schema, as migrate_schemas would."""
    migration_0006.complete_or_leave_a_draft(apps, SimpleNamespace(connection=connection))


# --- publishing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "purposes", "blank"),
    [
        (Agreement.Kind.MEMBERSHIP, [Purpose.MEMBERSHIP], "【联系电话/邮箱】"),
        (Agreement.Kind.MARKETING, [Purpose.MARKETING_SMS], "【活动名称】"),
    ],
)
def test_publishing_a_text_with_a_blank_is_refused(in_brand_a, kind, purposes, blank):
    agreement = (
        Agreement.objects.get(code="membership")
        if kind == Agreement.Kind.MEMBERSHIP
        else agreement_create(code="marketing", kind=kind, title="营销授权")
    )
    in_force = membership_version_current()
    draft = agreement_version_draft_save(
        agreement_id=agreement.pk, text=f"阿尔法咖啡……联系方式：{blank}。", purposes=purposes
    )

    with pytest.raises(AppError) as refused:
        agreement_version_publish(version_id=draft.pk, actor="tester")

    assert refused.value.code == PLACEHOLDERS
    assert blank in refused.value.message and "发布" in refused.value.message
    assert "text" in refused.value.fields
    draft.refresh_from_db()
    assert not draft.is_published
    assert membership_version_current() == in_force


def test_the_database_refuses_a_published_text_with_a_blank_whoever_writes_it(in_brand_a):
    agreement = Agreement.objects.get(code="membership")
    now = timezone.now()

    with pytest.raises(IntegrityError), transaction.atomic():
        AgreementVersion.objects.create(
            agreement=agreement, version=9, text="【品牌名称】会员协议", purposes=["membership"], published_at=now
        )
    draft = membership_draft("【品牌名称】会员协议")
    with pytest.raises(IntegrityError), transaction.atomic():
        AgreementVersion.objects.filter(pk=draft.pk).update(published_at=now)

    # A draft may hold blanks: it is what the brand admin completes.
    assert AgreementVersion.objects.get(pk=draft.pk).placeholders() == ["【品牌名称】"]


def test_the_admin_publish_action_says_why_it_refuses(in_brand_a, admin_client_a):
    draft = membership_draft("阿尔法咖啡会员协议。联系地址：【联系地址】")

    response = admin_client_a.post(
        "/admin/consent/agreementversion/", {"action": "publish", "_selected_action": [draft.pk]}, follow=True
    )

    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("【联系地址】" in text and "占位" in text for text in texts), texts
    draft.refresh_from_db()
    assert not draft.is_published


# --- enrolment while the agreement is incomplete ----------------------------------------------------


def test_every_enrolment_path_is_refused_and_writes_nothing(incomplete_brand):
    staff = Staff.objects.get()
    draft = AgreementVersion.objects.get()
    session = ConsentSession.objects.create(
        mode=ConsentSession.Mode.DEVICE,
        staff=staff,
        nonce="n" * 32,
        expires_at=timezone.now() + dt.timedelta(minutes=30),
    )

    # The service every path goes through, even naming the draft.
    with pytest.raises(AppError) as refused:
        enrol(version=draft)
    assert refused.value.code == INCOMPLETE and refused.value.status == 409

    # In-store consent sessions: opened by staff, recorded from paper, or shown to the customer.
    with pytest.raises(AppError) as refused:
        consent_session_open(staff_id=staff.pk, actor="店长")
    assert refused.value.code == INCOMPLETE
    with pytest.raises(AppError) as refused:
        consent_session_record_paper(staff_id=staff.pk, ticked=["membership"], paper_reference="P-1", actor="店长")
    assert refused.value.code == INCOMPLETE
    customer = host_client(brand_host(GAMMA))
    page = customer.get(consent_session_path(session=session))
    assert page.status_code == 409 and "会员协议" in page.content.decode()
    assert "【品牌名称】" not in page.content.decode()
    posted = customer.post(consent_session_path(session=session), {"purpose": ["membership"]})
    assert posted.status_code == 409

    # The partner API, in both of its languages.
    key = make_key(GAMMA)
    body = enrol_body(
        {"membership": draft.pk, "marketing": draft.pk},
        1,
        consents=[{"purpose": "membership", "granted": True, "version_id": draft.pk}],
    )
    api = host_client(brand_host(GAMMA))
    zh = call(api, "POST", "/api/v1/members", key=key, body=body)
    en = call(api, "POST", "/api/v1/members", key=key, body=body, language="en")
    assert (zh.status_code, json.loads(zh.content)["code"]) == (409, INCOMPLETE)
    assert "会员协议与隐私政策" in json.loads(zh.content)["detail"]
    assert (en.status_code, json.loads(en.content)["code"]) == (409, INCOMPLETE)
    assert "membership agreement" in json.loads(en.content)["detail"]

    # The back office: the enrolment page says so before anything is typed, and refuses the form;
    # the import refuses the file.
    admin = logged_in_client(GAMMA, GAMMA_ADMIN)
    form_page = admin.get("/admin/members/member/enrol/")
    assert any("会员协议" in str(m) for m in get_messages(form_page.wsgi_request))
    submitted = admin.post(
        "/admin/members/member/enrol/",
        {"name": "顾客", "mobile": "13900000002", "gender": "unknown", "staff": staff.pk, "home_store": staff.store_id},
    )
    assert submitted.status_code == 200 and "暂不能办理入会" in submitted.content.decode()
    csv = "手机号,姓名,性别,同意会员协议,授权凭证编号\n13900000003,顾客,女,是,P-3\n".encode("utf-8-sig")
    imported = admin.post(
        "/admin/members/member/import/", {"file": SimpleUploadedFile("members.csv", csv, content_type="text/csv")}
    )
    assert imported.status_code == 200 and "暂不能办理入会" in imported.content.decode()

    connection.set_tenant(incomplete_brand)
    assert not Member.objects.exists()
    assert not ConsentRecord.objects.exists()
    assert list(ConsentSession.objects.values_list("pk", "status")) == [(session.pk, ConsentSession.Status.OPEN)]
    # Brand A enrols as before.
    with schema_context(BRAND_A):
        assert enrol(mobile="13900000004").member_no


def test_the_brand_admin_completes_the_draft_publishes_it_and_enrolment_works(incomplete_brand):
    draft = AgreementVersion.objects.get()
    admin = logged_in_client(GAMMA, GAMMA_ADMIN)

    listing = admin.get("/admin/consent/agreementversion/")
    assert any("暂不能办理入会" in str(m) for m in get_messages(listing.wsgi_request))
    refused = admin.post(
        "/admin/consent/agreementversion/", {"action": "publish", "_selected_action": [draft.pk]}, follow=True
    )
    assert any("【品牌名称】" in str(m) for m in get_messages(refused.wsgi_request))

    completed = (
        draft.text.replace("【品牌名称】", "伽马服饰")
        .replace("【联系地址】", "杭州市西湖区文三路 90 号")
        .replace("【联系电话/邮箱】", "privacy@gamma.example")
    )
    saved = admin.post(
        f"/admin/consent/agreementversion/{draft.pk}/change/",
        {
            "text": completed,
            "purposes": ["membership"],
            "recipient": "",
            "recipient_purpose": "",
            "data_categories": "",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    published = admin.post(
        "/admin/consent/agreementversion/", {"action": "publish", "_selected_action": [draft.pk]}, follow=True
    )

    connection.set_tenant(incomplete_brand)
    assert any("已发布" in str(m) for m in get_messages(published.wsgi_request))
    current = membership_version_current()
    assert current is not None and current.pk == draft.pk and current.text == completed
    assert current.published_by == GAMMA_ADMIN
    assert enrol().member_no
    listing = admin.get("/admin/consent/agreementversion/")
    assert not any("暂不能办理入会" in str(m) for m in get_messages(listing.wsgi_request))


# --- brands that published the old template (migration 0006) --------------------------------------


def test_an_old_template_in_force_refuses_enrolment(incomplete_brand):
    legacy = legacy_published(AgreementVersion.objects.get())
    assert membership_version_current() == legacy

    with pytest.raises(AppError) as refused:
        enrol(version=legacy)

    assert refused.value.code == INCOMPLETE
    assert not Member.objects.exists()


def test_migration_without_contacts_leaves_a_draft_for_the_admin_and_enrolment_refused(incomplete_brand):
    legacy = legacy_published(AgreementVersion.objects.get())

    migrate_0006()
    migrate_0006()  # once per schema in practice; harmless again

    assert membership_version_current() == legacy
    draft = AgreementVersion.objects.get(published_at__isnull=True)
    assert draft.version == 2 and draft.text == MEMBERSHIP_TEMPLATE  # the old text, without "（模板）"
    with pytest.raises(AppError) as refused:
        enrol(version=legacy)
    assert refused.value.code == INCOMPLETE


def test_migration_with_the_brands_contacts_publishes_the_filled_text_and_consents_carry_over(incomplete_brand):
    legacy = legacy_published(AgreementVersion.objects.get())
    # A member who enrolled under the old template, before this rule.
    earlier = MemberFactory.create()
    consent_enrolment_record(
        member_id=earlier.pk,
        decisions=[ConsentDecision(purpose="membership", granted=True, version_id=legacy.pk)],
        evidence=ConsentEvidence(channel="admin"),
        actor="tester",
    )
    Brand.objects.filter(pk=incomplete_brand.pk).update(
        contact_address="杭州市西湖区文三路 90 号", pi_contact="privacy@gamma.example"
    )

    migrate_0006()

    current = membership_version_current()
    assert current.version == 2 and current.published_by == "migration consent.0006"
    assert current.text.startswith("伽马服饰会员协议与隐私政策\n")
    assert "杭州市西湖区文三路 90 号" in current.text and "privacy@gamma.example" in current.text
    assert current.placeholders() == [] and "模板" not in current.text
    # Naming itself is not a material change: the earlier consent still counts.
    assert current.reconsent_purposes == []
    assert ConsentState.objects.get(member=earlier, purpose="membership").needs_reconsent is False
    assert enrol().member_no


def test_migration_leaves_a_brand_with_a_complete_agreement_alone(in_brand_a):
    before = list(AgreementVersion.objects.values_list("pk", "version", "published_at"))

    migrate_0006()

    assert list(AgreementVersion.objects.values_list("pk", "version", "published_at")) == before


def test_a_template_that_still_publishes_the_old_text_gives_new_brands_a_clean_history(db):
    """Production's template schema was migrated before this rule: 0005 published the template
    there. Nobody consents in the template, so 0006 turns it back into a draft; a brand cloned from
    it with contacts publishes it filled in, and has no published version with blanks at all."""
    with schema_context("brand_template"):
        legacy_published(AgreementVersion.objects.get())
        migrate_0006()
        template = AgreementVersion.objects.get()
        assert not template.is_published and template.text == MEMBERSHIP_TEMPLATE

    brand_provision(
        slug=GAMMA,
        name="伽马服饰",
        domain=brand_host(GAMMA),
        admin_email=GAMMA_ADMIN,
        contact_address="杭州市西湖区文三路 90 号",
        pi_contact="privacy@gamma.example",
    )

    with schema_context(GAMMA):
        current = membership_version_current()
        assert current.version == 1 and current.placeholders() == [] and "模板" not in current.text
        assert current.text.startswith("伽马服饰会员协议与隐私政策\n")
        assert AgreementVersion.objects.count() == 1
        assert enrol().member_no
    with schema_context(BRAND_B):
        assert membership_version_current().placeholders() == []


def test_brand_b_is_untouched_by_brand_as_draft_and_its_publication(incomplete_brand):
    with schema_context(BRAND_B):
        before = list(AgreementVersion.objects.values_list("pk", "text", "published_at"))
    draft = AgreementVersion.objects.get()
    completed = (
        draft.text.replace("【品牌名称】", "伽马服饰")
        .replace("【联系地址】", "杭州")
        .replace("【联系电话/邮箱】", "400-820-1266")
    )
    agreement_version_draft_save(
        agreement_id=draft.agreement_id, version_id=draft.pk, text=completed, purposes=["membership"]
    )
    agreement_version_publish(version_id=draft.pk, actor=GAMMA_ADMIN)

    with schema_context(BRAND_B):
        assert list(AgreementVersion.objects.values_list("pk", "text", "published_at")) == before
        assert "贝塔美妆" in membership_version_current().text
        assert enrol(mobile="13900000005").member_no
