"""A WeCom member-day message goes out through each member's own staff to the fake WeCom server
over real HTTP; WeCom's per-customer results come back as delivered or failed with the reason."""

import pytest

from campaigns.messaging import outbox_send, wecom_results_poll
from campaigns.models import OutboxMessage
from members.models import Identity
from tests.campaigns.scenes import consenting_member, run_now
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_wecom_group_message_through_own_staff_and_its_results(
    config_a,
    fake,
    make_campaign,
    marketing_agreement,
):
    staff = StaffFactory(wecom_userid="zhangsan")
    members = {}
    for ext in ("wmFriend", "wmGone", "wmLimit"):
        member = consenting_member("marketing_wecom", assigned_staff=staff)
        Identity.objects.create(member=member, kind="wecom_external_userid", value=ext)
        members[ext] = member
        fake.add_contact(ext)
    fake.add_follow("zhangsan", "wmFriend")
    fake.add_follow("zhangsan", "wmLimit")  # wmGone deleted zhangsan: WeCom puts it in fail_list
    campaign = make_campaign(bonus_points=0, multiplier_pct=200, message_channel="wecom", message_template="会员日快乐")
    occurrence = run_now(campaign)

    outbox_send(occurrence_id=occurrence.pk)

    rows = {m.address: m for m in OutboxMessage.objects.filter(occurrence=occurrence)}
    assert rows["wmFriend"].status == OutboxMessage.Status.SENT and rows["wmFriend"].provider_msgid
    assert rows["wmGone"].status == OutboxMessage.Status.FAILED
    (message,) = fake.messages.values()
    assert message.sender == "zhangsan" and sorted(message.external_userids) == ["wmFriend", "wmGone", "wmLimit"]
    # the body, then the footer that leads to the member centre's preferences (issue 25)
    assert message.text.startswith("会员日快乐\n\n不想再收到此类消息？") and message.text.endswith("/m/me/preferences/")

    # wmLimit already received its quota of group messages this month.
    fake.msg_limit = 1
    other = fake.api_add_msg_template(
        {}, {"sender": "zhangsan", "external_userid": ["wmLimit"], "text": {"content": "x"}}
    )
    fake.staff_confirms_send(other["msgid"])
    fake.staff_confirms_send(message.msgid)  # zhangsan taps "send" in the WeCom app

    outcome = wecom_results_poll()

    assert outcome == {"checked": 1, "updated": 2}
    for row in rows.values():
        row.refresh_from_db()
    assert rows["wmFriend"].status == OutboxMessage.Status.DELIVERED and rows["wmFriend"].delivered_at
    assert rows["wmLimit"].status == OutboxMessage.Status.FAILED and "limit" in rows["wmLimit"].error
    assert wecom_results_poll() == {"checked": 0, "updated": 0}  # nothing left to ask about
