"""Transfers and group messages through the client against the fake server: results move over
simulated time, WeCom's limits come back as per-customer errcodes, message limits apply."""

import pytest

from wecom import errors
from wecom.fake.server import DAY

from .test_client import seed_customers

pytestmark = pytest.mark.django_db


def statuses(rows: list[dict]) -> dict[str, int]:
    return {row["external_userid"]: row["status"] for row in rows}


def test_on_job_transfer_waits_then_completes_or_is_refused(fake, client_api):
    a, b, c = seed_customers(fake, "zhangsan", 3)
    fake.refusers.add(b)

    started = client_api.transfer_customer(
        handover_userid="zhangsan", takeover_userid="lisi", external_userids=[a, b, c]
    )
    assert [row["errcode"] for row in started] == [0, 0, 0]
    assert set(statuses(client_api.transfer_result(handover_userid="zhangsan", takeover_userid="lisi")).values()) == {2}

    fake.advance(DAY + 1)
    results = client_api.transfer_result(handover_userid="zhangsan", takeover_userid="lisi")

    assert statuses(results) == {a: 1, b: 3, c: 1}
    # Two pages of 2 each time; the day also expired the token: one call rejected (42001), retried.
    assert fake.calls["externalcontact/transfer_result"] == 2 + 1 + 2
    assert fake.calls["gettoken"] == 2
    assert client_api.list_external_contacts("lisi") == [a, c]
    assert client_api.list_external_contacts("zhangsan") == [b]
    outbox = [(e["ChangeType"], e["ExternalUserID"], e.get("FailReason") or e.get("Source")) for e in fake.outbox]
    assert ("transfer_fail", b, "customer_refused") in outbox
    assert ("del_external_contact", a, "DELETE_BY_TRANSFER") in outbox


def test_takeover_at_the_customer_limit_ends_in_status_4(fake, client_api):
    fake.staff["lisi"].customer_limit = 1
    a, b = seed_customers(fake, "zhangsan", 2)

    client_api.transfer_customer(handover_userid="zhangsan", takeover_userid="lisi", external_userids=[a, b])
    fake.advance(DAY + 1)

    assert sorted(
        statuses(client_api.transfer_result(handover_userid="zhangsan", takeover_userid="lisi")).values()
    ) == [1, 4]


def test_at_most_two_transfers_per_customer_in_90_days(fake, client_api):
    [customer] = seed_customers(fake, "zhangsan", 1)
    for handover, takeover in (("zhangsan", "lisi"), ("lisi", "wangwu")):
        [row] = client_api.transfer_customer(
            handover_userid=handover, takeover_userid=takeover, external_userids=[customer]
        )
        assert row["errcode"] == 0
        fake.advance(DAY + 1)
        client_api.transfer_result(handover_userid=handover, takeover_userid=takeover)

    [third] = client_api.transfer_customer(
        handover_userid="wangwu", takeover_userid="zhangsan", external_userids=[customer]
    )
    assert third["errcode"] == 40128

    fake.advance(90 * DAY)
    [later] = client_api.transfer_customer(
        handover_userid="wangwu", takeover_userid="zhangsan", external_userids=[customer]
    )
    assert later["errcode"] == 0


def test_per_customer_refusals_come_back_as_data(fake, client_api):
    [mine] = seed_customers(fake, "zhangsan", 1)
    [theirs] = seed_customers(fake, "wangwu", 1)

    first = client_api.transfer_customer(handover_userid="zhangsan", takeover_userid="lisi", external_userids=[mine])
    again = client_api.transfer_customer(
        handover_userid="zhangsan", takeover_userid="lisi", external_userids=[mine, theirs, "wmNobody"]
    )

    assert first == [{"external_userid": mine, "errcode": 0}]
    assert [row["errcode"] for row in again] == [40129, 40131, 40096]


def test_handover_equal_to_takeover_is_40130(fake, client_api):
    [customer] = seed_customers(fake, "zhangsan", 1)
    with pytest.raises(errors.HandoverIsTakeover):
        client_api.transfer_customer(
            handover_userid="zhangsan", takeover_userid="zhangsan", external_userids=[customer]
        )


def test_resigned_transfer_needs_a_resigned_handover(fake, client_api):
    customers = seed_customers(fake, "zhangsan", 5)
    with pytest.raises(errors.NotResigned):
        client_api.resigned_transfer_customer(
            handover_userid="zhangsan", takeover_userid="lisi", external_userids=customers
        )

    fake.resign("zhangsan")
    assert len(client_api.get_unassigned_list()) == 5
    started = client_api.resigned_transfer_customer(
        handover_userid="zhangsan", takeover_userid="lisi", external_userids=customers
    )
    assert {row["errcode"] for row in started} == {0}
    assert client_api.get_unassigned_list() == []  # being transferred

    fake.advance(DAY + 1)
    results = client_api.resigned_transfer_result(handover_userid="zhangsan", takeover_userid="lisi")
    assert set(statuses(results).values()) == {1}
    assert all(row["takeover_time"] > 0 for row in results)
    assert client_api.transfer_result(handover_userid="zhangsan", takeover_userid="lisi") == []  # separate queue


def test_transfers_are_sent_in_batches_of_100(fake, client_api):
    fake.page_size = 1000
    customers = seed_customers(fake, "zhangsan", 250)

    started = client_api.transfer_customer(
        handover_userid="zhangsan", takeover_userid="lisi", external_userids=customers
    )

    assert len(started) == 250 and {row["errcode"] for row in started} == {0}
    assert fake.calls["externalcontact/transfer_customer"] == 3


def test_group_message_respects_the_per_customer_limit(fake, client_api):
    fake.msg_limit = 2
    a, b = seed_customers(fake, "zhangsan", 2)
    stranger = seed_customers(fake, "lisi", 1)[0]

    msgids = []
    for index in range(3):
        targets = [a, b, stranger] if index == 0 else [a]
        job = client_api.add_msg_template(sender="zhangsan", external_userids=targets, text=f"会员日 {index}")
        msgids.append(job["msgid"])
        if index == 0:
            assert job["fail_list"] == [stranger]  # not this staff member's customer
            unsent = client_api.get_groupmsg_send_result(msgid=job["msgid"], userid="zhangsan")
            assert statuses(unsent) == {a: 0, b: 0, stranger: 2}  # waiting for the staff to confirm
        fake.staff_confirms_send(job["msgid"])

    first, second, third = (
        statuses(client_api.get_groupmsg_send_result(msgid=msgid, userid="zhangsan")) for msgid in msgids
    )
    assert first == {a: 1, b: 1, stranger: 2}
    assert second == {a: 1}
    assert third == {a: 3}  # over a's limit of 2 per period

    fake.advance(fake.msg_limit_period + 1)
    job = client_api.add_msg_template(sender="zhangsan", external_userids=[a], text="下个周期")
    fake.staff_confirms_send(job["msgid"])
    assert statuses(client_api.get_groupmsg_send_result(msgid=job["msgid"], userid="zhangsan")) == {a: 1}
