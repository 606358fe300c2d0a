"""Enrolment in ≤ 4 staff actions: staff press 扫码入会 (the staff member and store preset from the
login); the customer types their mobile and consents on their own phone; the staff screen's
status fragment turns to the new member; the phone ends on the member card."""

import re

from django.test import Client
from django.urls import reverse

from consent.models import ConsentRecord, ConsentSession
from members.models import Member
from tests.conftest import brand_host


def _start(client) -> ConsentSession:
    response = client.post(reverse("workbench:enrol_start"))
    assert response.status_code == 302
    found = re.search(r"/enrol/(\d+)/", response["Location"])
    assert found is not None
    session_id = int(found.group(1))
    return ConsentSession.objects.get(pk=session_id)


def _join_path(client, session: ConsentSession) -> str:
    body = client.get(reverse("workbench:enrol", args=[session.pk])).content.decode()
    found = re.search(r"(/m/join/[^/\"<]+/)", body)
    assert found is not None
    return found.group(1)


def test_customer_enrols_on_their_phone_and_staff_screen_updates(staff_client, scene, staff_a):
    session = _start(staff_client)
    assert session.staff.user.username == "staff@alpha.example"
    status_url = reverse("workbench:enrol_status", args=[session.pk])
    assert 'data-status="waiting"' in staff_client.get(status_url).content.decode()

    phone = Client(HTTP_HOST=brand_host("alpha"), HTTP_USER_AGENT="iPhone WeChat")
    path = _join_path(staff_client, session)
    form = phone.get(path)
    assert form.status_code == 200 and "同意并加入会员" in form.content.decode()
    done = phone.post(
        path, {"mobile": "13911112222", "name": "陈一", "purpose": ["membership", "marketing_sms"]}, follow=True
    )
    card = done.content.decode()
    assert "欢迎加入" in card and "会员号" in card and "交还导购" not in card

    member = Member.objects.get(mobile="+8613911112222")
    assert (member.home_store_id, member.assigned_staff_id) == (scene["store_a"].pk, session.staff_id)
    records = ConsentRecord.objects.filter(member=member)
    assert {r.purpose for r in records if r.granted} == {"membership", "marketing_sms"}
    assert all(r.evidence.get("user_agent") == "iPhone WeChat" for r in records)
    status = staff_client.get(status_url).content.decode()
    assert 'data-status="done"' in status and member.member_no in status and "陈*" in status


def test_taken_mobile_and_missing_membership_change_nothing(staff_client, scene):
    session = _start(staff_client)
    phone = Client(HTTP_HOST=brand_host("alpha"))
    path = _join_path(staff_client, session)
    taken = phone.post(path, {"mobile": "13900001234", "purpose": ["membership"]})
    assert taken.status_code == 400 and "该手机号已是本品牌会员" in taken.content.decode()
    no_consent = phone.post(path, {"mobile": "13911113333", "purpose": ["marketing_sms"]})
    assert no_consent.status_code == 400
    session.refresh_from_db()
    assert session.status == ConsentSession.Status.OPEN
    assert not Member.objects.filter(mobile="+8613911113333").exists()


def test_other_stores_staff_cannot_watch_my_session(staff_client, staff_b_client, scene):
    session = _start(staff_client)
    assert staff_b_client.get(reverse("workbench:enrol", args=[session.pk])).status_code == 404
    assert staff_b_client.get(reverse("workbench:enrol_status", args=[session.pk])).status_code == 404


def test_a_used_link_shows_the_card_and_cannot_enrol_again(staff_client, scene):
    session = _start(staff_client)
    phone = Client(HTTP_HOST=brand_host("alpha"))
    path = _join_path(staff_client, session)
    phone.post(path, {"mobile": "13911114444", "purpose": ["membership"]})
    again = phone.post(path, {"mobile": "13911115555", "purpose": ["membership"]})
    assert "欢迎加入" in again.content.decode()
    assert not Member.objects.filter(mobile="+8613911115555").exists()


def test_forged_link_is_refused(scene):
    phone = Client(HTTP_HOST=brand_host("alpha"))
    response = phone.get(reverse("workbench:join", args=["forged"]))
    assert response.status_code == 404 and "链接无效" in response.content.decode()
