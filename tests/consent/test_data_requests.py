"""Data-subject requests (PIPL arts. 45-47, 50) and erasure, through the services."""

import datetime as dt

import pytest
from django.utils import timezone

from consent.models import ConsentRecord, DataRequest, PIAccessLog, Purpose
from consent.selectors import members_contactable, members_processable
from consent.services import (
    data_request_complete,
    data_request_create,
    data_request_refuse,
    member_data_export,
    member_erase,
    pi_access_log,
)
from crm.errors import AppError
from members.models import Identity, MemberTag, Order, PointsEntry
from tests.consent.conftest import enrolled
from tests.factories import IdentityFactory, TagFactory

pytestmark = pytest.mark.django_db
SMS = Purpose.MARKETING_SMS


def _history(member):
    IdentityFactory(member=member)
    MemberTag.objects.create(member=member, tag=TagFactory())
    order = Order.objects.create(
        channel="store",
        order_no=f"O-{member.pk}",
        paid_at=timezone.now(),
        amount_fen=3800,
        member=member,
        buyer_kind="mobile",
        buyer_value=member.mobile,
        is_member_order=True,
        points_earned=38,
    )
    PointsEntry.objects.create(member=member, kind="earn", points=38, balance_after=38, reference=f"order:{order.pk}")
    return order


def test_request_is_due_in_15_days_with_an_audit_trail(agreements_a):
    member = enrolled()
    before = timezone.now()

    request = data_request_create(member_id=member.pk, kind="access", channel="member_page", actor="会员")

    assert dt.timedelta(days=15) <= request.due_at - before < dt.timedelta(days=15, minutes=1)
    assert list(request.events.values_list("action", flat=True)) == ["created"]


def test_access_export_is_machine_readable_and_complete(agreements_a):
    member = enrolled(granted=[SMS])
    _history(member)

    export = member_data_export(member_id=member.pk)

    assert export["profile"]["mobile"] == member.mobile
    assert export["identities"] and export["orders"][0]["amount_fen"] == 3800
    assert export["ledger"][0]["points"] == 38
    assert {c["purpose"] for c in export["consents"]} == set(Purpose.values)
    assert "assignment" in export


def test_refusal_needs_a_reason_and_a_closed_request_stays_closed(agreements_a):
    request = data_request_create(member_id=enrolled().pk, kind="deletion", channel="admin", actor="t")

    with pytest.raises(AppError) as refused:
        data_request_refuse(request_id=request.pk, actor="t", reason="  ")
    assert refused.value.code == "data_request_refusal_reason_required"
    request.refresh_from_db()
    assert request.status == DataRequest.Status.PENDING

    data_request_refuse(request_id=request.pk, actor="t", reason="存在未结清的法律纠纷，依法需保存")
    with pytest.raises(AppError):
        data_request_complete(request_id=request.pk, actor="t")
    request.refresh_from_db()
    assert request.status == DataRequest.Status.REFUSED and request.member.status == "active"


def test_correction_is_applied_and_audited(agreements_a):
    member = enrolled(name="张三")
    with pytest.raises(AppError):
        data_request_create(
            member_id=member.pk, kind="correction", channel="admin", actor="t", requested_changes={"mobile": "1"}
        )
    request = data_request_create(
        member_id=member.pk, kind="correction", channel="admin", actor="t", requested_changes={"name": "张叁"}
    )

    data_request_complete(request_id=request.pk, actor="客服")

    member.refresh_from_db()
    assert member.name == "张叁"
    event = request.events.get(action="completed")
    assert event.detail["before"] == {"name": "张三"} and event.detail["after"] == {"name": "张叁"}


def test_deletion_erases_personal_data_and_keeps_ledger_and_consent_proof(agreements_a):
    member = enrolled(granted=[SMS], birthday=dt.date(1990, 5, 12))
    order = _history(member)
    records_before = ConsentRecord.objects.filter(member=member).count()
    request = data_request_create(member_id=member.pk, kind="deletion", channel="member_page", actor="会员")

    data_request_complete(request_id=request.pk, actor="客服")
    data_request_complete(request_id=request.pk, actor="客服")  # retry: nothing more happens

    member.refresh_from_db()
    assert member.status == "erased" and member.erased_at is not None
    assert (member.name, member.mobile, member.birthday) == ("", "", None)
    assert not Identity.objects.filter(member=member).exists() and not MemberTag.objects.filter(member=member).exists()
    order.refresh_from_db()
    assert order.buyer_value == "" and order.amount_fen == 3800
    assert PointsEntry.objects.get(member=member).points == 38
    # Every granted purpose was withdrawn by a new record; nothing was deleted.
    assert ConsentRecord.objects.filter(member=member).count() == records_before + 2  # membership + sms
    assert not members_contactable(purpose=SMS).filter(pk=member.pk).exists()
    assert not members_processable().filter(pk=member.pk).exists()


def test_erased_member_cannot_file_new_requests(agreements_a):
    member = enrolled()
    member_erase(member_id=member.pk, actor="t")
    with pytest.raises(AppError) as refused:
        data_request_create(member_id=member.pk, kind="access", channel="admin", actor="t")
    assert refused.value.code == "member_erased"


def test_pi_access_log_validates_its_input(agreements_a):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser

    member = enrolled()
    user = get_user_model().objects.get(username="admin@alpha.example")
    for bad in ({"fields": []}, {"fields": ["password"]}, {"context": " "}, {"user": AnonymousUser()}):
        arguments = {"user": user, "member": member, "fields": ["mobile"], "context": "admin", **bad}
        with pytest.raises(AppError):
            pi_access_log(**arguments)
    assert not PIAccessLog.objects.exists()
