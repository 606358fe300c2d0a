"""推荐人 at a store enrolment: once the customer has joined on their phone, the staff screen stops
polling (286) and offers the referrer's mobile or member number; the binding is engagement's —
not oneself, an unknown referrer changes nothing, the first registration stands, and the
invitation shows on the referrer's list with its status."""

import re

from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from consent.models import ConsentSession
from engagement.models import Referral
from engagement.selectors import referral_invitations
from members.models import Member
from tests.conftest import brand_host
from tests.engagement.scene import rules
from tests.engagement.test_referral import campaign


def _found(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found is not None, text
    return found.group(1)


def _enrolled(staff_client) -> tuple[ConsentSession, Member]:
    started = staff_client.post(reverse("workbench:enrol_start"))
    session = ConsentSession.objects.get(pk=int(_found(r"/enrol/(\d+)/", started["Location"])))
    body = staff_client.get(reverse("workbench:enrol", args=[session.pk])).content.decode()
    path = _found(r"(/m/join/[^/\"<]+/)", body)
    phone = Client(HTTP_HOST=brand_host("alpha"))
    phone.post(path, {"mobile": "13911112222", "name": "陈一", "purpose": ["membership"]})
    return session, Member.objects.get(mobile="+8613911112222")


def _said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_staff_record_the_referrer_by_mobile_with_the_binding_rules(staff_client, scene):
    rules()
    campaign(qualifying="first_order")
    session, newcomer = _enrolled(staff_client)
    status = staff_client.get(reverse("workbench:enrol_status", args=[session.pk]))
    assert status.status_code == 286 and "登记推荐人" in status.content.decode()  # polling stops
    url = reverse("workbench:enrol_referrer", args=[session.pk])

    myself = staff_client.post(url, {"referrer": "139 1111 2222"})
    assert "不能登记自己为推荐人。" in _said(myself) and not Referral.objects.exists()
    unknown = staff_client.post(url, {"referrer": "13700009999"})
    assert any("找不到该推荐人" in m for m in _said(unknown)) and not Referral.objects.exists()

    lin = scene["lin"]
    done = staff_client.post(url, {"referrer": "13900001234"})
    assert done.status_code == 302 and any(f"已登记推荐人 {lin.member_no} 林*" in m for m in _said(done))
    referral = Referral.objects.get(invitee=newcomer)
    assert (referral.referrer_id, referral.channel, referral.status) == (lin.pk, "store", "joined")
    assert referral.staff_id == session.staff_id
    [seen] = referral_invitations(member=lin)
    assert seen.stage_label == "已邀请" and seen.invitee.startswith("陈*")

    again = staff_client.post(url, {"referrer": scene["wu"].member_no})
    assert any("已登记过推荐人" in m for m in _said(again))
    assert Referral.objects.get(invitee=newcomer).referrer_id == lin.pk  # the first stands
    page = staff_client.get(reverse("workbench:enrol", args=[session.pk])).content.decode()
    assert "every 2s" not in page and f"{lin.member_no} 林*" in page and "门店登记" in page


def test_a_refused_referral_is_stored_and_the_staff_read_why(staff_client, scene):
    rules()
    session, newcomer = _enrolled(staff_client)  # no campaign running
    url = reverse("workbench:enrol_referrer", args=[session.pk])
    said = _said(staff_client.post(url, {"referrer": scene["wu"].member_no}))
    referral = Referral.objects.get(invitee=newcomer)
    assert (referral.status, referral.reason) == ("refused", "邀请有礼活动未开启或已结束")
    assert any("但不发放奖励：邀请有礼活动未开启或已结束" in m for m in said)


def test_a_frozen_referrer_cannot_be_recorded(staff_client, scene):
    rules()
    campaign()
    session, newcomer = _enrolled(staff_client)
    Member.objects.filter(pk=scene["wu"].pk).update(status=Member.Status.FROZEN)
    said = _said(staff_client.post(reverse("workbench:enrol_referrer", args=[session.pk]), {"referrer": "13600005678"}))
    assert any("已冻结" in m for m in said) and not Referral.objects.filter(invitee=newcomer).exists()


def test_no_referrer_before_the_customer_has_joined(staff_client, scene):
    started = staff_client.post(reverse("workbench:enrol_start"))
    session_id = int(_found(r"/enrol/(\d+)/", started["Location"]))
    status = staff_client.get(reverse("workbench:enrol_status", args=[session_id]))
    assert status.status_code == 200 and "登记推荐人" not in status.content.decode()
    early = staff_client.post(reverse("workbench:enrol_referrer", args=[session_id]), {"referrer": "13900001234"})
    assert "顾客尚未完成入会，不能登记推荐人。" in _said(early) and not Referral.objects.exists()
