"""Offboarding (离职继承) and on-the-job reassignment against the fake WeCom server over HTTP:
transfers recorded, sent in batches of 100, polled until settled, WeCom's limits flagged."""

import pytest
from django.contrib.auth import get_user_model

from crm.errors import AppError
from members.models import Member, MemberAssignment, Staff
from tests.factories import MemberFactory
from wecom.fake.server import DAY, Transfer
from wecom.models import CustomerTransfer, FollowRelation
from wecom.selectors import Issue, members_needing_attention, ownership_issue_q
from wecom.transfers import members_reassign, staff_resign, transfers_poll, transfers_send

from .scene import deliver_and_process, member_followed, scene_create

pytestmark = pytest.mark.django_db

S = CustomerTransfer.Status


@pytest.fixture
def scene(config_a):
    return scene_create()


def statuses() -> dict[str, int]:
    result: dict[str, int] = {}
    for status in CustomerTransfer.objects.values_list("status", flat=True):
        result[status] = result.get(status, 0) + 1
    return result


def test_offboarding_250_members_ends_with_every_member_owned_or_flagged(
    config_a, fake, scene, django_capture_on_commit_callbacks
):
    fake.page_size = 50
    followed = [
        member_followed(fake, staff=scene.zhangsan, ext=f"wmOff{index:03d}", store=scene.store) for index in range(240)
    ]
    offline = [MemberFactory(home_store=scene.store, assigned_staff=scene.zhangsan) for _ in range(10)]
    exts = [f"wmOff{index:03d}" for index in range(240)]
    fake.refusers.update(exts[:5])  # five customers refuse
    now = fake.now()
    for ext in exts[5:8]:  # three were transferred twice already this quarter (outside the portal)
        fake.transfers += [Transfer("x", "y", ext, resigned=False, started_at=now - 10 * DAY, status=1)] * 2
    fake.staff["lisi"].customer_limit = 230  # lisi can take 230 customers in all
    fake.resign("zhangsan")

    with django_capture_on_commit_callbacks() as callbacks:
        plan = staff_resign(staff=scene.zhangsan, takeover=scene.lisi, actor="admin@alpha")

    assert (plan.transfers, plan.reassigned, plan.flagged) == (240, 10, 0)
    assert len(callbacks) == 1  # one send task, after commit
    assert Staff.objects.get(pk=scene.zhangsan.pk).status == Staff.Status.RESIGNED
    assert all(Member.objects.get(pk=m.pk).assigned_staff == scene.lisi for m in offline)

    assert transfers_send(handover_id=scene.zhangsan.pk, kind=CustomerTransfer.Kind.RESIGNED) == {"sent": 240}
    assert fake.calls["externalcontact/resigned/transfer_customer"] == 3  # 100 + 100 + 40
    assert statuses() == {S.WAITING: 237, S.TOO_OFTEN: 3}
    assert transfers_poll()["waiting"] == 237  # the customers have 24 h

    fake.advance(DAY + 1)
    summary = transfers_poll()

    assert statuses() == {S.DONE: 230, S.REFUSED: 5, S.OVER_LIMIT: 2, S.TOO_OFTEN: 3}
    assert (summary["done"], summary["refused"], summary["over_limit"]) == (230, 5, 2)
    flagged = set(CustomerTransfer.objects.exclude(status=S.DONE).values_list("member_id", flat=True))
    for member in Member.objects.filter(pk__in=[m.pk for m in followed]).select_related("assigned_staff"):
        if member.pk in flagged:
            assert member.assigned_staff == scene.zhangsan  # still with the handover in WeCom
        else:
            assert member.assigned_staff == scene.lisi
    # Nobody silently: every member not owned by an active staff member is in the review.
    review = set(members_needing_attention(Member.objects.all()).values_list("pk", flat=True))
    assert review == flagged
    assert set(Member.objects.filter(ownership_issue_q(Issue.TRANSFER_FLAGGED)).values_list("pk", flat=True)) == flagged
    assert MemberAssignment.objects.filter(reason=MemberAssignment.Reason.RESIGNED_TRANSFER).count() == 240
    assert FollowRelation.objects.filter(staff_userid="lisi", deleted_at__isnull=True).count() == 230
    # Flagged transfers are not sent again by the scheduled job.
    calls = fake.calls["externalcontact/resigned/transfer_customer"]
    transfers_poll()
    assert fake.calls["externalcontact/resigned/transfer_customer"] == calls
    assert CustomerTransfer.objects.get(member=followed[5]).errcode == 40128


def test_offboarding_waits_until_wecom_knows_the_staff_left(config_a, fake, scene):
    member = member_followed(fake, staff=scene.zhangsan, ext="wmEarly", store=scene.store)
    staff_resign(staff=scene.zhangsan, takeover=scene.lisi, actor="admin")

    transfers_send(handover_id=scene.zhangsan.pk, kind=CustomerTransfer.Kind.RESIGNED)

    transfer = CustomerTransfer.objects.get()
    assert (transfer.status, transfer.errcode) == (S.PENDING, 40097)
    fake.resign("zhangsan")  # the WeCom admin removes the employee from the directory
    assert transfers_poll()["resent"] == 1
    fake.advance(DAY + 1)
    transfers_poll()
    transfer.refresh_from_db()
    member.refresh_from_db()
    assert transfer.status == S.DONE and member.assigned_staff == scene.lisi


def test_running_offboarding_twice_does_not_transfer_anyone_twice(config_a, fake, scene):
    member_followed(fake, staff=scene.zhangsan, ext="wmTwice", store=scene.store)
    fake.resign("zhangsan")

    staff_resign(staff=scene.zhangsan, takeover=scene.lisi, actor="admin")
    staff_resign(staff=scene.zhangsan, takeover=scene.lisi, actor="admin")
    transfers_send(handover_id=scene.zhangsan.pk, kind=CustomerTransfer.Kind.RESIGNED)
    transfers_send(handover_id=scene.zhangsan.pk, kind=CustomerTransfer.Kind.RESIGNED)

    assert CustomerTransfer.objects.count() == 1
    assert fake.calls["externalcontact/resigned/transfer_customer"] == 1


def test_offboarding_with_a_takeover_per_member(config_a, fake, scene):
    first = MemberFactory(home_store=scene.store, assigned_staff=scene.zhangsan)
    second = MemberFactory(home_store=scene.store, assigned_staff=scene.zhangsan)

    staff_resign(staff=scene.zhangsan, takeover={first.pk: scene.lisi, second.pk: scene.wangwu}, actor="admin")

    assert Member.objects.get(pk=first.pk).assigned_staff == scene.lisi
    assert Member.objects.get(pk=second.pk).assigned_staff == scene.wangwu


@pytest.mark.parametrize("bad", ["self", "resigned", "incomplete_mapping"])
def test_bad_takeover_is_refused_and_changes_nothing(config_a, fake, scene, bad):
    member = MemberFactory(home_store=scene.store, assigned_staff=scene.zhangsan)
    MemberFactory(home_store=scene.store, assigned_staff=scene.zhangsan)
    user = get_user_model().objects.create_user(username="zs@alpha.example", password="x-Long-Pass-2026")
    Staff.objects.filter(pk=scene.zhangsan.pk).update(user=user)
    scene.zhangsan.refresh_from_db()
    takeover: object = {
        "self": scene.zhangsan,
        "resigned": Staff.objects.create(
            store=scene.store, name="已离职", status="resigned", resigned_at="2026-01-01T00:00Z"
        ),
        "incomplete_mapping": {member.pk: scene.lisi},
    }[bad]

    with pytest.raises(AppError) as raised:
        staff_resign(staff=scene.zhangsan, takeover=takeover, actor="admin")

    assert raised.value.code == "transfer_invalid"
    assert Staff.objects.get(pk=scene.zhangsan.pk).status == Staff.Status.ACTIVE
    assert get_user_model().objects.get(pk=user.pk).is_active
    assert not MemberAssignment.objects.exists() and not CustomerTransfer.objects.exists()


def test_resigning_deactivates_the_login(config_a, fake, scene):
    user = get_user_model().objects.create_user(username="zs@alpha.example", password="x-Long-Pass-2026")
    Staff.objects.filter(pk=scene.zhangsan.pk).update(user=user)
    scene.zhangsan.refresh_from_db()

    staff_resign(staff=scene.zhangsan, takeover=scene.lisi, actor="admin")

    assert not get_user_model().objects.get(pk=user.pk).is_active


def test_on_job_reassignment_transfers_with_a_message_and_settles(config_a, client_a, fake, scene):
    fake.page_size = 100
    moving = [member_followed(fake, staff=scene.zhangsan, ext=f"wmJob{i}", store=scene.store) for i in range(3)]
    offline = MemberFactory(home_store=scene.store, assigned_staff=scene.wangwu)
    fake.refusers.add("wmJob2")

    plan = members_reassign(
        members=[*moving, offline], takeover=scene.lisi, actor="manager", message="新导购李四为您服务"
    )
    transfers_send(handover_id=scene.zhangsan.pk, kind=CustomerTransfer.Kind.ON_JOB)

    assert (plan.transfers, plan.reassigned) == (3, 1)
    assert Member.objects.get(pk=offline.pk).assigned_staff == scene.lisi
    assert set(CustomerTransfer.objects.values_list("message", "status")) == {("新导购李四为您服务", S.WAITING)}
    fake.advance(DAY + 1)
    # The refusal arrives as a transfer_fail callback (UserID = takeover) before the poll runs.
    refusal = next(e for e in fake.outbox if e["ChangeType"] == "transfer_fail")
    deliver_and_process(client_a, fake, refusal)
    assert CustomerTransfer.objects.get(external_userid="wmJob2").status == S.REFUSED

    transfers_poll()

    assert statuses() == {S.DONE: 2, S.REFUSED: 1}
    assert [Member.objects.get(pk=m.pk).assigned_staff.wecom_userid for m in moving] == ["lisi", "lisi", "zhangsan"]
    assert MemberAssignment.objects.filter(reason=MemberAssignment.Reason.TRANSFER).count() == 3
    # WeCom's own callback for the handover (DELETE_BY_TRANSFER) is not a lost customer.
    deletion = next(e for e in fake.outbox if e.get("Source") == "DELETE_BY_TRANSFER")
    deliver_and_process(client_a, fake, deletion)
    assert Member.objects.get(pk=moving[0].pk).assigned_staff == scene.lisi


def test_the_90_day_limit_is_respected_from_our_own_records(config_a, fake, scene):
    fake.page_size = 100
    [member] = [member_followed(fake, staff=scene.zhangsan, ext="wmOften", store=scene.store)]
    for takeover, handover in ((scene.lisi, scene.zhangsan), (scene.wangwu, scene.lisi)):
        members_reassign(members=[member], takeover=takeover, actor="m", message="")
        transfers_send(handover_id=handover.pk, kind=CustomerTransfer.Kind.ON_JOB)
        fake.advance(DAY + 1)
        transfers_poll()
    calls = fake.calls["externalcontact/transfer_customer"]

    plan = members_reassign(members=[member], takeover=scene.zhangsan, actor="m", message="")

    assert plan.flagged == 1
    third = CustomerTransfer.objects.order_by("-pk").first()
    assert (third.status, third.errcode) == (S.TOO_OFTEN, 40128)
    transfers_send(handover_id=scene.wangwu.pk, kind=CustomerTransfer.Kind.ON_JOB)
    assert fake.calls["externalcontact/transfer_customer"] == calls  # never sent to WeCom


def test_the_beat_entries_name_registered_wecom_tasks():
    from django.conf import settings

    from crm.celery import app

    entries = {k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if k.startswith("wecom-")}
    assert {entry["args"][0] for entry in entries.values()} == {
        "wecom.transfers_poll",
        "wecom.prospects_link_pending",
        "wecom.members_unassigned_distribute",
    }
    assert all(entry["task"] == "tenancy.run_in_every_brand" for entry in entries.values())
    assert all(entry["args"][0] in app.tasks for entry in entries.values())
