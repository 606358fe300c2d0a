"""Withdrawing a member's consent from the brand admin's member page (DOMAIN.md: withdrawal is as
easy as granting — admin, API, the member's own page — and takes effect at once): through the
test client on the brand host, with the same service and hooks as the other channels."""

import datetime as dt
import re
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django_tenants.utils import schema_context

from campaigns.models import Campaign, OutboxMessage
from campaigns.services import occurrence_ensure, occurrence_run
from consent.models import ConsentRecord, ConsentState, Purpose
from crm.db import connection
from members.models import Member, Staff, Store
from members.roles import HQ_MARKETER, STORE_STAFF
from tests.conftest import brand_admin_email, brand_host, logged_in_client
from tests.consent.conftest import enrolled, publish_all
from tests.factories import StoreFactory
from tests.members.conftest import staff_user_create

pytestmark = pytest.mark.django_db
SMS, WECOM, PHONE = Purpose.MARKETING_SMS, Purpose.MARKETING_WECOM, Purpose.MARKETING_PHONE


def withdraw_url(member: Member) -> str:
    return reverse("admin:members_member_withdraw_consent", args=[member.pk])


def change_url(member: Member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def granted(brand, member: Member) -> set[str]:
    """What the member grants now, read in their brand (a request leaves the connection elsewhere)."""
    connection.set_tenant(brand)
    return set(ConsentState.objects.filter(member=member, granted=True).values_list("purpose", flat=True))


def records(brand, member: Member) -> int:
    connection.set_tenant(brand)
    return ConsentRecord.objects.filter(member=member).count()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def store(agreements_a) -> Store:
    return StoreFactory.create(code="SH001", name="上海静安店")


@pytest.fixture
def member(store) -> Member:
    """In brand A, home store 上海静安店, granting membership, SMS and WeCom marketing."""
    return enrolled(granted=[SMS, WECOM], home_store=store)


# --- the page and the withdrawal ----------------------------------------------------------------


def test_member_page_shows_consents_by_name_with_a_withdraw_link_per_granted_purpose(admin_client_a, member):
    body = admin_client_a.get(change_url(member)).content.decode()

    assert "授权状态" in body
    assert "短信营销：已同意" in body and "企业微信营销：已同意" in body and "电话营销：未同意" in body
    assert f"{withdraw_url(member)}?purpose={SMS}" in body and f"{withdraw_url(member)}?purpose={WECOM}" in body
    assert f"{withdraw_url(member)}?purpose={PHONE}" not in body  # nothing to withdraw
    assert "撤回同意" in body and withdraw_url(member) in body  # the page's object tool


def test_admin_withdraws_one_purpose_recorded_with_admin_evidence(admin_client_a, brand_a, member):
    # Given the confirmation page, purposes by their Chinese names, the picked one preselected
    page = admin_client_a.get(withdraw_url(member), {"purpose": SMS})
    assert page.status_code == 200
    labels = [str(label) for _, label in page.context["form"].fields["purpose"].widget.choices]
    assert labels == ["短信营销", "企业微信营销", "会员服务（必需）"]  # membership, which stops everything, last
    body = page.content.decode()
    assert all(label in body for label in labels) and "确认撤回同意" in body and "csrfmiddlewaretoken" in body
    assert page.context["form"]["purpose"].value() == SMS
    assert granted(brand_a, member) == {Purpose.MEMBERSHIP, SMS, WECOM}  # looking changes nothing

    # When the admin confirms
    response = admin_client_a.post(withdraw_url(member), {"purpose": SMS, "note": "来电要求不再接收短信"}, follow=True)

    # Then only that purpose is withdrawn, at once, with the admin's evidence
    assert response.redirect_chain[-1][0] == change_url(member)
    assert f"已撤回会员 {member.member_no} 对“短信营销”的同意" in " ".join(messages_of(response))
    assert granted(brand_a, member) == {Purpose.MEMBERSHIP, WECOM}
    record = ConsentRecord.objects.filter(member=member).first()  # latest first
    assert record is not None
    assert (record.purpose, record.granted, record.channel, record.actor) == (
        SMS,
        False,
        ConsentRecord.Channel.ADMIN,
        brand_admin_email("alpha"),
    )
    assert record.evidence["admin_user"] == brand_admin_email("alpha")
    assert record.evidence["note"] == "来电要求不再接收短信"
    # The member page now offers WeCom only.
    body = response.content.decode()
    assert "短信营销：未同意" in body and f"?purpose={SMS}" not in body and f"?purpose={WECOM}" in body


def test_withdrawal_cancels_the_queued_campaign_message_for_that_purpose_only(admin_client_a, brand_a, member):
    # Given a member-day SMS queued for the member (its sending waits in the brand's pump: the
    # test's transaction never commits, so the pump never sends it)
    campaign = Campaign.objects.create(
        name="会员日", day_of_month=8, bonus_points=0, message_channel="sms", message_template="会员日快乐"
    )
    slot = dt.datetime(2026, 3, 8, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
    occurrence, _ = occurrence_ensure(campaign=campaign, slot=slot)
    occurrence_run(occurrence_id=occurrence.pk)
    message = OutboxMessage.objects.get(occurrence=occurrence, member=member)
    assert (message.purpose, message.status) == (SMS, OutboxMessage.Status.QUEUED)

    # When WeCom is withdrawn, the SMS stays queued; when SMS is withdrawn, it is cancelled
    assert admin_client_a.post(withdraw_url(member), {"purpose": WECOM}).status_code == 302
    connection.set_tenant(brand_a)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.QUEUED

    assert admin_client_a.post(withdraw_url(member), {"purpose": SMS}).status_code == 302
    connection.set_tenant(brand_a)
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.CANCELLED and message.error == "consent withdrawn"


# --- who may, and bad input ---------------------------------------------------------------------


def test_own_store_staff_may_withdraw_another_stores_staff_is_refused(brand_a, store, member):
    elsewhere = StoreFactory(code="BJ001", name="北京国贸店")
    staff_user_create(store=elsewhere, role=STORE_STAFF, username="bj@alpha.example")
    staff_user_create(store=store, role=STORE_STAFF, username="sh@alpha.example")
    before = records(brand_a, member)
    other_store = logged_in_client("alpha", "bj@alpha.example")

    for response in (
        other_store.get(withdraw_url(member), {"purpose": SMS}, follow=True),
        other_store.post(withdraw_url(member), {"purpose": SMS}, follow=True),
    ):
        assert response.redirect_chain[-1][0] == reverse("admin:members_member_changelist")
        assert "找不到该会员，或该会员不属于您的门店。" in messages_of(response)
    assert granted(brand_a, member) == {Purpose.MEMBERSHIP, SMS, WECOM}
    assert records(brand_a, member) == before

    own_store = logged_in_client("alpha", "sh@alpha.example")
    assert own_store.post(withdraw_url(member), {"purpose": SMS}).status_code == 302
    assert granted(brand_a, member) == {Purpose.MEMBERSHIP, WECOM}
    connection.set_tenant(brand_a)
    record = ConsentRecord.objects.filter(member=member).first()
    assert record is not None and record.actor == "sh@alpha.example"
    assert record.evidence["staff_id"] == Staff.objects.get(user__username="sh@alpha.example").pk


def test_hq_marketers_consent_access_is_read_only(brand_a, member):
    staff_user_create(store=None, role=HQ_MARKETER, username="hq@alpha.example")
    client = logged_in_client("alpha", "hq@alpha.example")

    assert client.post(withdraw_url(member), {"purpose": SMS}).status_code == 403
    assert ">撤回同意</a>" not in client.get(change_url(member)).content.decode()
    assert granted(brand_a, member) == {Purpose.MEMBERSHIP, SMS, WECOM}


def test_a_purpose_not_granted_or_unknown_is_refused_with_a_message(admin_client_a, brand_a, member):
    before = records(brand_a, member)

    not_granted = admin_client_a.post(withdraw_url(member), {"purpose": PHONE})
    unknown = admin_client_a.post(withdraw_url(member), {"purpose": "no_such_purpose"})

    assert not_granted.status_code == 200
    assert "会员目前没有同意“电话营销”，无需撤回" in not_granted.content.decode()
    assert unknown.status_code == 200 and "请选择要撤回的授权。" in unknown.content.decode()
    assert "no_such_purpose" not in unknown.content.decode()
    assert records(brand_a, member) == before


def test_an_erased_member_has_nothing_to_withdraw(admin_client_a, brand_a, member):
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
    before = records(brand_a, member)

    response = admin_client_a.post(withdraw_url(member), {"purpose": SMS}, follow=True)

    assert response.redirect_chain[-1][0] == change_url(member)
    assert "该会员已删除或已合并，没有可撤回的授权。" in messages_of(response)
    assert records(brand_a, member) == before


def test_get_and_a_post_without_the_csrf_token_change_nothing(brand_a, member):
    client = Client(HTTP_HOST=brand_host("alpha"), enforce_csrf_checks=True)
    with schema_context("alpha"):
        client.force_login(get_user_model().objects.get(username=brand_admin_email("alpha")))
    before = records(brand_a, member)

    page = client.get(withdraw_url(member), {"purpose": SMS})
    forged = client.post(withdraw_url(member), {"purpose": SMS})

    assert page.status_code == 200 and forged.status_code == 403
    assert granted(brand_a, member) == {Purpose.MEMBERSHIP, SMS, WECOM}
    assert records(brand_a, member) == before
    # The same form with the page's token goes through: it was the token that was missing.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token is not None
    assert client.post(withdraw_url(member), {"purpose": SMS, "csrfmiddlewaretoken": token[1]}).status_code == 302
    assert granted(brand_a, member) == {Purpose.MEMBERSHIP, WECOM}


# --- brands -------------------------------------------------------------------------------------


def test_withdrawing_in_brand_a_leaves_brand_b_alone(admin_client_a, brand_a, brand_b, member):
    connection.set_tenant(brand_b)
    publish_all()
    in_b = enrolled(granted=[SMS, WECOM])
    b_records = ConsentRecord.objects.filter(member=in_b).count()

    assert admin_client_a.post(withdraw_url(member), {"purpose": SMS}).status_code == 302
    # Brand A's session means nothing on brand B's host: the login page, not a withdrawal.
    on_b = admin_client_a.post(withdraw_url(in_b), {"purpose": SMS}, HTTP_HOST=brand_host("beta"))
    assert on_b.status_code == 302 and "/login/" in on_b["Location"]

    assert granted(brand_a, member) == {Purpose.MEMBERSHIP, WECOM}
    assert granted(brand_b, in_b) == {Purpose.MEMBERSHIP, SMS, WECOM}
    assert ConsentRecord.objects.filter(member=in_b).count() == b_records
