"""Enrolment in ≤ 4 staff actions: staff press 扫码入会 (the staff member and store preset from the
login); the customer types their mobile and consents on their own phone; the staff screen's
status fragment turns to the new member; the phone ends on the member card."""

import re

from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

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


def test_staff_screen_says_why_the_customer_was_refused(staff_client, scene):
    """The customer's phone says it; the staff screen (polling) says it too, in staff words."""
    session = _start(staff_client)
    phone = Client(HTTP_HOST=brand_host("alpha"))
    path = _join_path(staff_client, session)
    status_url = reverse("workbench:enrol_status", args=[session.pk])
    assert 'data-status="refused"' not in staff_client.get(status_url).content.decode()

    phone.post(path, {"mobile": "13900001234", "purpose": ["membership"]})
    status = staff_client.get(status_url).content.decode()
    assert 'data-status="refused"' in status and "已是本品牌会员" in status and "尾号 1234" in status
    assert "M0" not in status  # not the member number: the staff look her up by 手机尾号

    phone.post(path, {"mobile": "13911116666", "purpose": ["marketing_sms"]})
    status = staff_client.get(status_url).content.decode()
    assert "未勾选“会员服务”授权" in status and "已是本品牌会员" not in status

    phone.post(path, {"mobile": "13911116666", "birthday": "1990-13-40", "purpose": ["membership"]})
    assert "生日格式不正确" in staff_client.get(status_url).content.decode()

    phone.post(path, {"mobile": "13911116666", "purpose": ["membership"]})
    status = staff_client.get(status_url).content.decode()
    assert 'data-status="done"' in status and 'data-status="refused"' not in status


def _under_14_birthday() -> str:
    today = timezone.localdate()
    return today.replace(year=today.year - 10, day=min(today.day, 28)).isoformat()


def test_guardian_fields_open_only_when_the_age_requires_them(staff_client, scene):
    """An adult's page has the guardian's fields folded (the box unticked); a birthday under 14
    sends the page back with them open; with a guardian the child is enrolled and the guardian is
    in the consent evidence."""
    session = _start(staff_client)
    phone = Client(HTTP_HOST=brand_host("alpha"))
    path = _join_path(staff_client, session)
    form = phone.get(path).content.decode()
    assert 'class="guardian-fields"' in form and 'class="minor-toggle" checked' not in form

    child = {"mobile": "13911117777", "birthday": _under_14_birthday(), "purpose": ["membership"]}
    refused = phone.post(path, child)
    body = refused.content.decode()
    assert refused.status_code == 400 and 'class="minor-toggle" checked' in body
    status = staff_client.get(reverse("workbench:enrol_status", args=[session.pk])).content.decode()
    assert "未满 14 周岁" in status and "监护人" in status
    assert not Member.objects.filter(mobile="+8613911117777").exists()

    phone.post(path, {**child, "minor": "1", "guardian_name": "陈母", "guardian_relation": "母亲"})
    member = Member.objects.get(mobile="+8613911117777")
    record = ConsentRecord.objects.get(member=member, purpose="membership")
    assert record.evidence["guardian"]["name"] == "陈母"


def test_the_guardian_block_is_folded_unless_opened():
    """The one block the consent page, the member centre's join and this page include: the box
    unticked, the fields hidden (CSS: .minor-toggle:checked ~ .guardian-fields); opened, ticked
    and refilled."""
    folded = render_to_string("consent/_guardian.html", {"guardian_open": False})
    opened = render_to_string(
        "consent/_guardian.html", {"guardian_open": True, "guardian_post": {"guardian_name": "陈母"}}
    )
    assert 'class="minor-toggle" checked' not in folded and 'class="minor-toggle" checked' in opened
    assert 'value="陈母"' in opened
