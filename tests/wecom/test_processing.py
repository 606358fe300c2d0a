"""Processing stored callbacks: each ChangeType maintains the follow relations, once in effect,
in order, with the contact details fetched from the fake WeCom server over HTTP."""

from types import SimpleNamespace

import pytest

from wecom import errors, tasks
from wecom.models import CallbackEvent, FollowRelation, WecomConfig
from wecom.services import callback_event_process
from wecom.tasks import callback_event_process_task, retry_countdown

from .test_callback_view import post

pytestmark = pytest.mark.django_db

T0 = 1_760_000_000


def deliver(
    client, fake, change_type: str, ext: str = "wmChen", *, userid: str = "zhangsan", at: int = T0, **extra: str
):
    """WeCom delivers one callback to brand A's URL; returns the stored event."""
    xml = fake.event_xml(change_type, userid=userid, external_userid=ext, create_time=at, **extra)
    response = post(client, fake, xml)
    assert response.status_code == 200, response.content
    return CallbackEvent.objects.get(natural_key=CallbackEvent.natural_key_of(_fields(xml)))


def _fields(xml: str) -> dict[str, str]:
    from wecom.crypto import parse_xml

    return parse_xml(xml)


@pytest.fixture
def chen(fake):
    """A customer who has added zhangsan through the spring QR code (state) in the fake corp."""
    fake.add_contact("wmChen", "陈女士", unionid="oUnionChen")
    fake.add_follow("zhangsan", "wmChen", state="store_sh001", remark="陈女士 VIP", add_way=1)
    return "wmChen"


def test_add_creates_the_relation_with_unionid_state_and_details(config_a, client_a, fake, chen):
    event = deliver(client_a, fake, "add_external_contact", State="store_sh001", WelcomeCode="wc")

    change = callback_event_process(event_id=event.pk)

    relation = FollowRelation.objects.get(external_userid=chen, staff_userid="zhangsan")
    assert (relation.unionid, relation.state, relation.remark, relation.add_way) == (
        "oUnionChen",
        "store_sh001",
        "陈女士 VIP",
        1,
    )
    assert relation.name == "陈女士" and relation.is_active
    assert relation.raw["external_contact"]["unionid"] == "oUnionChen"
    assert change is not None and change.kind == "added" and change.applied and change.unionid == "oUnionChen"
    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.PROCESSED and event.attempts == 1


def test_processing_an_event_twice_has_one_effect(config_a, client_a, fake, chen):
    event = deliver(client_a, fake, "add_external_contact", State="store_sh001")
    callback_event_process(event_id=event.pk)
    before = FollowRelation.objects.get()
    calls = fake.calls["externalcontact/get"]

    assert callback_event_process(event_id=event.pk) is None

    after = FollowRelation.objects.get()
    assert after.updated_at == before.updated_at
    assert fake.calls["externalcontact/get"] == calls  # not even a WeCom call


def test_the_same_event_delivered_twice_and_processed_is_one_relation(config_a, client_a, fake, chen):
    first = deliver(client_a, fake, "add_external_contact", State="store_sh001")
    second = deliver(client_a, fake, "add_external_contact", State="store_sh001")
    for event in (first, second):
        callback_event_process(event_id=event.pk)

    assert first.pk == second.pk
    assert FollowRelation.objects.count() == 1


def test_welcome_message_is_sent_when_the_brand_has_one(config_a, client_a, fake, chen):
    WecomConfig.objects.update(welcome_text="欢迎加入会员！")
    added = fake.customer_adds("zhangsan", chen, state="store_sh001")
    event = deliver(client_a, fake, "add_external_contact", State="store_sh001", WelcomeCode=added["WelcomeCode"])

    callback_event_process(event_id=event.pk)

    assert fake.welcomes_sent == [(added["WelcomeCode"], "欢迎加入会员！")]


def test_staff_deleting_the_customer_keeps_the_row_as_history(config_a, client_a, fake, chen):
    callback_event_process(event_id=deliver(client_a, fake, "add_external_contact").pk)
    callback_event_process(event_id=deliver(client_a, fake, "del_external_contact", at=T0 + 60).pk)

    relation = FollowRelation.objects.get()
    assert relation.deleted_by == FollowRelation.DeletedBy.STAFF
    assert int(relation.deleted_at.timestamp()) == T0 + 60
    assert relation.unionid == "oUnionChen"  # history keeps who it was


@pytest.mark.parametrize(
    ("change_type", "extra", "deleted_by"),
    [
        ("del_follow_user", {}, FollowRelation.DeletedBy.CUSTOMER),
        ("del_external_contact", {"Source": "DELETE_BY_TRANSFER"}, FollowRelation.DeletedBy.TRANSFER),
    ],
)
def test_deletions_record_who_ended_the_relation(config_a, client_a, fake, chen, change_type, extra, deleted_by):
    callback_event_process(event_id=deliver(client_a, fake, "add_external_contact").pk)

    change = callback_event_process(event_id=deliver(client_a, fake, change_type, at=T0 + 5, **extra).pk)

    assert FollowRelation.objects.get().deleted_by == deleted_by
    assert change is not None and change.kind == "deleted" and change.deleted_by == deleted_by


def test_a_late_add_does_not_undo_a_newer_delete(config_a, client_a, fake, chen):
    late_add = deliver(client_a, fake, "add_external_contact", at=T0)
    delete = deliver(client_a, fake, "del_follow_user", at=T0 + 30)

    callback_event_process(event_id=delete.pk)
    change = callback_event_process(event_id=late_add.pk)

    assert change is not None and not change.applied
    assert not FollowRelation.objects.get().is_active


def test_adding_again_after_a_delete_reactivates_the_relation(config_a, client_a, fake, chen):
    for change_type, at in (
        ("add_external_contact", T0),
        ("del_follow_user", T0 + 10),
        ("add_external_contact", T0 + 20),
    ):
        callback_event_process(event_id=deliver(client_a, fake, change_type, at=at).pk)

    relation = FollowRelation.objects.get()
    assert relation.is_active and relation.deleted_by == ""


def test_edit_refreshes_the_remark(config_a, client_a, fake, chen):
    callback_event_process(event_id=deliver(client_a, fake, "add_external_contact").pk)
    fake.follows[("zhangsan", chen)].remark = "陈女士 金卡"

    callback_event_process(event_id=deliver(client_a, fake, "edit_external_contact", at=T0 + 5).pk)

    assert FollowRelation.objects.get().remark == "陈女士 金卡"


def test_an_add_for_a_customer_already_gone_uses_the_event_alone(config_a, client_a, fake):
    event = deliver(client_a, fake, "add_external_contact", ext="wmGone", State="store_gz002")

    callback_event_process(event_id=event.pk)  # WeCom answers 40096/84061 for the details

    relation = FollowRelation.objects.get()
    assert (relation.external_userid, relation.state, relation.unionid) == ("wmGone", "store_gz002", "")


def test_transfer_fail_changes_no_relation_and_reports_the_reason(config_a, client_a, fake, chen):
    event = deliver(client_a, fake, "transfer_fail", userid="lisi", FailReason="customer_refused")

    change = callback_event_process(event_id=event.pk)

    assert change is not None and change.kind == "transfer_failed" and change.fail_reason == "customer_refused"
    assert change.staff_userid == "lisi"
    assert FollowRelation.objects.count() == 0


def test_an_unknown_change_type_is_stored_and_ignored(config_a, client_a, fake):
    event = deliver(client_a, fake, "msg_audit_approved")

    assert callback_event_process(event_id=event.pk) is None

    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.IGNORED
    assert FollowRelation.objects.count() == 0


def test_a_rate_limited_fetch_leaves_the_event_pending_for_a_retry(config_a, client_a, fake, chen):
    event = deliver(client_a, fake, "add_external_contact")
    fake.inject("externalcontact/get", errcode=45009)

    with pytest.raises(errors.RateLimited):
        callback_event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.PENDING and FollowRelation.objects.count() == 0

    callback_event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.PROCESSED and event.attempts == 2


def test_the_task_retries_a_rate_limit_and_then_succeeds(config_a, client_a, fake, chen):
    event = deliver(client_a, fake, "add_external_contact")
    fake.inject("externalcontact/get", errcode=45009)

    # apply() runs the task here; an eager retry runs again at once instead of after the countdown.
    callback_event_process_task.apply(args=[event.pk])

    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.PROCESSED and event.attempts == 2
    assert FollowRelation.objects.get().unionid == "oUnionChen"


def test_the_task_gives_up_on_a_permanent_error_and_records_it(config_a, client_a, fake, chen):
    event = deliver(client_a, fake, "add_external_contact")
    fake.inject("externalcontact/get", errcode=48002)

    result = callback_event_process_task.apply(args=[event.pk])

    assert isinstance(result.result, errors.NoPermission)
    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.FAILED and "48002" in event.error


def test_a_failed_event_delivered_again_is_queued_again(
    config_a, client_a, fake, chen, django_capture_on_commit_callbacks
):
    event = deliver(client_a, fake, "add_external_contact", State="s1")
    CallbackEvent.objects.filter(pk=event.pk).update(status=CallbackEvent.Status.FAILED, error="boom")

    with django_capture_on_commit_callbacks() as callbacks:
        deliver(client_a, fake, "add_external_contact", State="s1")

    event.refresh_from_db()
    assert event.status == CallbackEvent.Status.PENDING and len(callbacks) == 1


def test_retry_backoff_doubles_from_5_seconds_to_a_10_minute_cap_with_full_jitter(monkeypatch):
    # The range each retry's wait is drawn from, as (low, high).
    monkeypatch.setattr(tasks, "random", SimpleNamespace(uniform=lambda low, high: (low, high)))
    ranges = [retry_countdown(retries) for retries in range(10)]
    monkeypatch.undo()

    assert ranges == [(5, 5), (5, 10), (5, 20), (5, 40), (5, 80), (5, 160), (5, 320), (5, 600), (5, 600), (5, 600)]
    assert len({round(retry_countdown(6), 3) for _ in range(20)}) > 1  # jittered, not lockstep
