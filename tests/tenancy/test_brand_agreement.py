"""A brand is set up as the personal-information processor its members consent to (PIPL art. 17):
given its contact address and personal-information contact, provisioning publishes its membership
agreement filled with them; without them the agreement stays a draft and nobody can enrol until
the brand admin completes and publishes it. Whatever happens to one brand, the others are untouched.

(Publishing, the enrolment paths and existing brands: tests/consent/test_membership_agreement.py.)"""

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django_tenants.utils import schema_context

from consent.models import AgreementVersion
from consent.services import agreement_version_draft_save, agreement_version_publish, membership_version_current
from consent.types import ConsentDecision, ConsentEvidence
from crm.errors import AppError
from crm.tenancy.models import Brand
from crm.tenancy.services import brand_details_update, brand_provision, brand_provision_validate
from members.models import Member
from members.services.members import member_enroll
from tests.conftest import BRAND_A, BRAND_B, brand_host

pytestmark = pytest.mark.django_db

INCOMPLETE = "consent_membership_agreement_incomplete"
ADDRESS = "杭州市西湖区文三路 90 号"
PI_CONTACT = "400-820-1266"


def provision_gamma(**overrides):
    args = {
        "slug": "gamma",
        "name": "伽马服饰",
        "domain": "gamma.localhost",
        "admin_email": "boss@gamma.example",
        "admin_password": "Gamma-Admin-2026",
    }
    return brand_provision(**{**args, **overrides})


def enrol_in(slug: str, *, mobile: str = "13900000001") -> Member:
    """A customer enrolling in the brand `slug` with membership consent to what is in force."""
    with schema_context(slug):
        version = membership_version_current() or AgreementVersion.objects.order_by("-version").first()
        assert version is not None
        return member_enroll(
            name="顾客",
            mobile=mobile,
            decisions=[ConsentDecision(purpose="membership", granted=True, version_id=version.pk)],
            evidence=ConsentEvidence(channel="admin"),
            actor="tester",
        )


def test_provisioning_with_contacts_publishes_the_agreement_naming_the_brand_and_its_contacts():
    provision_gamma(contact_address=ADDRESS, pi_contact=PI_CONTACT)

    brand = Brand.objects.get(schema_name="gamma")
    assert (brand.contact_address, brand.pi_contact) == (ADDRESS, PI_CONTACT)
    with schema_context("gamma"):
        current = membership_version_current()
        assert current is not None and current.version == 1 and current.is_published
        assert current.text.startswith("伽马服饰会员协议与隐私政策")
        assert f"本协议由伽马服饰（以下简称“我们”，联系地址：{ADDRESS}，个人信息保护负责人联系方式：{PI_CONTACT}）" in (
            current.text
        )
        assert current.placeholders() == [] and "模板" not in current.text
        assert current.published_by == "brand_provision" and current.reconsent_purposes == []
        assert not AgreementVersion.objects.filter(published_at__isnull=True).exists()
    assert enrol_in("gamma").member_no


def test_provisioning_without_contacts_leaves_a_draft_and_refuses_enrolment():
    provision_gamma()

    with schema_context("gamma"):
        assert membership_version_current() is None
        draft = AgreementVersion.objects.get()
        assert not draft.is_published
        assert draft.placeholders() == ["【品牌名称】", "【联系地址】", "【联系电话/邮箱】"]
    with pytest.raises(AppError) as refused:
        enrol_in("gamma")

    assert refused.value.code == INCOMPLETE and refused.value.status == 409
    assert "会员协议" in refused.value.message and "发布" in refused.value.message
    with schema_context("gamma"):
        assert not Member.objects.exists()


def test_only_an_address_is_not_enough():
    provision_gamma(contact_address=ADDRESS)

    with schema_context("gamma"):
        assert membership_version_current() is None
    with pytest.raises(AppError) as refused:
        enrol_in("gamma")
    assert refused.value.code == INCOMPLETE


def test_a_rerun_with_the_contacts_completes_the_agreement():
    provision_gamma()

    provision_gamma(contact_address=ADDRESS, pi_contact=PI_CONTACT)

    brand = Brand.objects.get(schema_name="gamma")
    assert brand.pi_contact == PI_CONTACT
    with schema_context("gamma"):
        current = membership_version_current()
        assert current is not None and current.version == 1 and PI_CONTACT in current.text
        assert AgreementVersion.objects.count() == 1
    assert enrol_in("gamma").member_no


def test_a_rerun_never_replaces_the_agreement_the_brand_published_itself():
    with schema_context(BRAND_A):
        v1 = membership_version_current()
        own = agreement_version_draft_save(
            agreement_id=v1.agreement_id, text="阿尔法咖啡自己的会员协议全文", purposes=["membership"]
        )
        own = agreement_version_publish(version_id=own.pk, actor="admin@alpha.example")

    brand_provision(
        slug=BRAND_A,
        name="阿尔法咖啡",
        domain=brand_host(BRAND_A),
        admin_email=f"admin@{BRAND_A}.example",
        contact_address=ADDRESS,
        pi_contact=PI_CONTACT,
    )

    with schema_context(BRAND_A):
        assert membership_version_current() == own
        assert AgreementVersion.objects.count() == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"pi_contact": "找前台"}, "pi_contact"),
        ({"pi_contact": "privacy@"}, "pi_contact"),
        ({"pi_contact": "12"}, "pi_contact"),
        ({"contact_address": "【联系地址】"}, "contact_address"),
        ({"name": "【品牌名称】"}, "name"),
        ({"contact_address": "路" * 201}, "contact_address"),
    ],
)
def test_bad_contacts_are_refused_and_create_nothing(overrides, field):
    with pytest.raises(AppError) as refused:
        provision_gamma(**{"contact_address": ADDRESS, "pi_contact": PI_CONTACT, **overrides})

    assert refused.value.code == "brand_invalid" and field in refused.value.fields
    assert not Brand.objects.filter(schema_name="gamma").exists()


@pytest.mark.parametrize("pi_contact", ["privacy@gamma.example", "400-820-1266", "(021) 6088 1200", "+86 21 6088 1200"])
def test_a_phone_or_an_email_is_a_contact(pi_contact):
    brand_provision_validate(
        slug="gamma",
        name="伽马服饰",
        domain="gamma.localhost",
        admin_email="boss@gamma.example",
        admin_password=None,
        time_zone="Asia/Shanghai",
        contact_address=ADDRESS,
        pi_contact=pi_contact,
    )


def test_create_brand_command_takes_the_contacts():
    call_command(
        "create_brand",
        "gamma",
        "--name",
        "伽马服饰",
        "--domain",
        "gamma.localhost",
        "--admin-email",
        "boss@gamma.example",
        "--contact-address",
        ADDRESS,
        "--pi-contact",
        PI_CONTACT,
    )

    with schema_context("gamma"):
        assert PI_CONTACT in membership_version_current().text


def test_create_brand_command_without_contacts_says_enrolment_waits_for_the_agreement(capsys):
    call_command(
        "create_brand", "gamma", "--name", "伽马", "--domain", "gamma.localhost", "--admin-email", "boss@gamma.example"
    )

    out = capsys.readouterr().out
    assert "membership agreement is a draft" in out and "cannot enrol" in out


def test_the_platform_admin_provisions_with_the_contacts(platform_client):
    response = platform_client.post(
        "/admin/tenancy/brand/add/",
        {
            "name": "伽马服饰",
            "slug": "gamma",
            "domain": "gamma.localhost",
            "time_zone": "Asia/Shanghai",
            "contact_address": ADDRESS,
            "pi_contact": PI_CONTACT,
            "admin_email": "boss@gamma.example",
            "admin_password": "",
        },
    )

    assert response.status_code == 302
    with schema_context("gamma"):
        assert PI_CONTACT in membership_version_current().text


def test_the_platform_admin_shows_a_bad_contact_on_the_form(platform_client):
    response = platform_client.post(
        "/admin/tenancy/brand/add/",
        {
            "name": "伽马服饰",
            "slug": "gamma",
            "domain": "gamma.localhost",
            "time_zone": "Asia/Shanghai",
            "contact_address": ADDRESS,
            "pi_contact": "找前台",
            "admin_email": "boss@gamma.example",
        },
    )

    assert response.status_code == 200
    assert "电话或邮箱" in response.content.decode()
    assert not Brand.objects.filter(schema_name="gamma").exists()


def test_the_operator_completes_a_brand_by_entering_its_contacts(platform_client):
    """How an existing brand without contacts is finished from the platform side."""
    provision_gamma()
    brand = Brand.objects.get(schema_name="gamma")

    response = platform_client.post(
        f"/admin/tenancy/brand/{brand.pk}/change/",
        {
            "name": "伽马服饰",
            "time_zone": "Asia/Shanghai",
            "contact_address": ADDRESS,
            "pi_contact": PI_CONTACT,
            "domains-TOTAL_FORMS": "0",
            "domains-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not [m for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    brand.refresh_from_db()
    assert (brand.contact_address, brand.pi_contact) == (ADDRESS, PI_CONTACT)
    with schema_context("gamma"):
        current = membership_version_current()
        assert current is not None and current.published_by == "platform:operator"
        assert ADDRESS in current.text
    assert enrol_in("gamma").member_no


def test_a_brand_without_contacts_leaves_the_other_brands_alone():
    with schema_context(BRAND_A):
        versions_a = list(AgreementVersion.objects.values_list("pk", "text", "published_at"))

    provision_gamma()
    with pytest.raises(AppError):
        enrol_in("gamma")
    brand_details_update(
        brand_id=Brand.objects.get(schema_name="gamma").pk,
        name="伽马服饰",
        time_zone="Asia/Shanghai",
        contact_address=ADDRESS,
        pi_contact=PI_CONTACT,
        actor="platform:operator",
    )

    with schema_context(BRAND_A):
        assert list(AgreementVersion.objects.values_list("pk", "text", "published_at")) == versions_a
    assert enrol_in(BRAND_A).member_no
    assert enrol_in(BRAND_B).member_no
