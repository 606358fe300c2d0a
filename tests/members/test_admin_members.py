"""The member admin through the test client: list without N+1, masking and the PI log, the enrol
form, the merge confirmation, freeze and tag actions."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.urls import reverse

from consent.models import ConsentRecord, PIAccessLog
from members.models import Member, MemberMerge, MemberTag
from members.roles import STORE_MANAGER, STORE_STAFF
from tests.conftest import logged_in_client
from tests.factories import IdentityFactory, MemberFactory, TagFactory

from .conftest import staff_user_create

CHANGELIST = "admin:members_member_changelist"


def _members(n, store, staff):
    tags = [TagFactory(name="新客"), TagFactory(name="咖啡")]
    for i in range(n):
        member = MemberFactory(home_store=store, assigned_staff=staff)
        IdentityFactory(member=member)
        MemberTag.objects.create(member=member, tag=tags[i % 2])


def test_list_query_count_does_not_grow_with_members(
    admin_client_a, in_brand_a, store_a, staff_a, django_assert_max_num_queries
):
    _members(5, store_a, staff_a)
    connection.set_tenant(in_brand_a)
    with django_assert_max_num_queries(30) as few:
        response = admin_client_a.get(reverse(CHANGELIST))
    assert response.status_code == 200
    baseline = len(few.captured_queries)

    connection.set_tenant(in_brand_a)
    _members(45, store_a, staff_a)
    connection.set_tenant(in_brand_a)
    with django_assert_max_num_queries(baseline) as many:
        response = admin_client_a.get(reverse(CHANGELIST), {"tag": "", "status": "active"})
    assert len(response.context["cl"].result_list) == 50
    assert len(many.captured_queries) <= baseline


def test_store_user_list_is_constant_too(in_brand_a, store_a, staff_a, django_assert_max_num_queries):
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    _members(50, store_a, staff_a)
    client = logged_in_client("alpha", "staff@alpha.example")
    with django_assert_max_num_queries(30):
        response = client.get(reverse(CHANGELIST), {"q": "会员"})
    assert response.status_code == 200


def test_list_masks_mobiles_even_for_full_pi_users(admin_client_a, in_brand_a, store_a):
    MemberFactory(home_store=store_a, mobile="+8613812341234", name="张三丰")
    body = admin_client_a.get(reverse(CHANGELIST)).content.decode()
    assert "138****1234" in body
    assert "13812341234" not in body


def test_member_page_masks_for_store_staff_and_shows_and_logs_for_managers(in_brand_a, store_a, brand_a):
    member = MemberFactory(home_store=store_a, mobile="+8613812341234", name="张三丰")
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    staff_user_create(store=store_a, role=STORE_MANAGER, username="manager@alpha.example")
    url = reverse("admin:members_member_change", args=[member.pk])

    staff_page = logged_in_client("alpha", "staff@alpha.example").get(url).content.decode()
    assert "138****1234" in staff_page and "13812341234" not in staff_page
    assert "张**" in staff_page
    connection.set_tenant(brand_a)
    assert not PIAccessLog.objects.filter(member=member).exists()

    manager_page = logged_in_client("alpha", "manager@alpha.example").get(url).content.decode()
    assert "13812341234" in manager_page
    connection.set_tenant(brand_a)
    log = PIAccessLog.objects.get(member=member)
    assert (log.username, log.context) == ("manager@alpha.example", "admin:member_change")


def test_full_export_logs_each_member_once_in_constant_queries(
    admin_client_a, in_brand_a, store_a, staff_a, brand_a, django_assert_max_num_queries
):
    """An export of 30 members with full PI is 30 log rows (the log is read per member), written
    in one statement: the query count is the same as for 3 members."""

    def export(members):
        connection.set_tenant(in_brand_a)
        with django_assert_max_num_queries(40) as queries:
            response = admin_client_a.post(
                reverse(CHANGELIST), {"action": "export_csv", ACTION_CHECKBOX_NAME: [m.pk for m in members]}
            )
        assert response.status_code == 200
        connection.set_tenant(brand_a)
        return len(queries.captured_queries)

    admin_client_a.get(reverse(CHANGELIST))  # warm the session and per-process caches (content types)
    few = [MemberFactory(home_store=store_a, mobile=f"+86138000000{i:02d}") for i in range(3)]
    few_queries = export(few)
    many = [MemberFactory(home_store=store_a, mobile=f"+86139000000{i:02d}") for i in range(30)]
    many_queries = export(many)

    assert many_queries == few_queries
    logged = PIAccessLog.objects.filter(context="admin:member_export")
    assert sorted(logged.values_list("member_id", flat=True)) == sorted(m.pk for m in few + many)
    assert all(fields == ["export"] for fields in logged.values_list("fields", flat=True))


def test_enrol_form_enrols_with_per_purpose_consent(in_brand_a, agreement_version_a, store_a, brand_a):
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    client = logged_in_client("alpha", "staff@alpha.example")
    url = reverse("admin:members_member_enrol")
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    # Unticked by default: no pre-checked consent boxes.
    assert all(not form.fields[name].initial for name, _v, _p in form.consent_fields)
    staff_id = form.initial["staff"]
    fields = {name: purpose for name, _v, purpose in form.consent_fields}
    membership_field = next(name for name, purpose in fields.items() if purpose == "membership")
    sms_field = next(name for name, purpose in fields.items() if purpose == "marketing_sms")

    response = client.post(
        url,
        {
            "name": "周杰",
            "mobile": "139 1234 5678",
            "gender": "male",
            "home_store": store_a.pk,
            "staff": staff_id,
            membership_field: "on",
            sms_field: "",
            "identity_kind_0": "wechat_unionid",
            "identity_value_0": "oU-1",
        },
    )
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    connection.set_tenant(brand_a)
    member = Member.objects.get(mobile="+8613912345678")
    assert member.home_store == store_a and member.assigned_staff_id == staff_id
    assert set(member.identities.values_list("kind", flat=True)) == {"mobile", "wechat_unionid"}
    consents = dict(ConsentRecord.objects.filter(member=member).values_list("purpose", "granted"))
    assert consents["membership"] is True and consents["marketing_sms"] is False


def test_enrol_form_without_membership_consent_shows_the_error_and_enrols_nobody(
    in_brand_a, agreement_version_a, store_a, brand_a
):
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    client = logged_in_client("alpha", "staff@alpha.example")
    url = reverse("admin:members_member_enrol")
    staff_id = client.get(url).context["form"].initial["staff"]
    response = client.post(url, {"name": "周杰", "mobile": "13912345679", "gender": "male", "staff": staff_id})
    assert response.status_code == 200
    assert "入会需要会员本人同意" in response.content.decode()
    connection.set_tenant(brand_a)
    assert not Member.objects.filter(mobile="+8613912345679").exists()


def test_store_staff_cannot_enrol_into_another_store(in_brand_a, agreement_version_a, store_a, brand_a):
    from tests.factories import StoreFactory

    other = StoreFactory(code="BJ001", name="北京国贸店", city="北京")
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    client = logged_in_client("alpha", "staff@alpha.example")
    response = client.post(reverse("admin:members_member_enrol"), {"mobile": "13912345670", "home_store": other.pk})
    assert response.status_code == 200
    assert "home_store" in response.context["form"].errors


def test_merge_action_asks_for_the_survivor_then_merges(admin_client_a, in_brand_a, store_a, brand_a):
    first = MemberFactory(home_store=store_a, member_no="M00000011")
    second = MemberFactory(home_store=store_a, member_no="M00000012")
    selection = {"action": "merge_members", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}

    confirm = admin_client_a.post(reverse(CHANGELIST), selection)
    assert confirm.status_code == 200
    assert "确认合并" in confirm.content.decode()
    connection.set_tenant(brand_a)
    assert not MemberMerge.objects.exists()

    done = admin_client_a.post(
        reverse(CHANGELIST), {**selection, "confirm": "yes", "survivor": str(second.pk), "reason": "同一顾客"}
    )
    assert done.status_code == 302
    connection.set_tenant(brand_a)
    first.refresh_from_db()
    assert (first.status, first.merged_into) == (Member.Status.MERGED, second)


def test_merge_action_needs_exactly_two(admin_client_a, in_brand_a, store_a, brand_a):
    members = MemberFactory.create_batch(3, home_store=store_a)
    response = admin_client_a.post(
        reverse(CHANGELIST), {"action": "merge_members", ACTION_CHECKBOX_NAME: [m.pk for m in members]}, follow=True
    )
    assert "恰好选择两位会员" in response.content.decode()


def test_freeze_action_and_its_message(in_brand_a, store_a, brand_a):
    member = MemberFactory(home_store=store_a)
    erased = MemberFactory(home_store=store_a, status=Member.Status.ERASED)
    staff_user_create(store=store_a, role=STORE_MANAGER, username="manager@alpha.example")
    client = logged_in_client("alpha", "manager@alpha.example")
    response = client.post(
        reverse(CHANGELIST), {"action": "freeze_members", ACTION_CHECKBOX_NAME: [member.pk, erased.pk]}, follow=True
    )
    body = response.content.decode()
    assert "已冻结 1 位会员" in body
    assert erased.member_no in body  # the refusal names the member
    connection.set_tenant(brand_a)
    member.refresh_from_db()
    assert member.status == Member.Status.FROZEN


def test_store_staff_cannot_freeze(in_brand_a, store_a, brand_a):
    member = MemberFactory(home_store=store_a)
    staff_user_create(store=store_a, role=STORE_STAFF, username="staff@alpha.example")
    client = logged_in_client("alpha", "staff@alpha.example")
    client.post(reverse(CHANGELIST), {"action": "freeze_members", ACTION_CHECKBOX_NAME: [member.pk]})
    connection.set_tenant(brand_a)
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_tag_action_without_a_tag_says_so(admin_client_a, in_brand_a, store_a):
    member = MemberFactory(home_store=store_a)
    response = admin_client_a.post(
        reverse(CHANGELIST), {"action": "tag_members", ACTION_CHECKBOX_NAME: [member.pk], "tag": ""}, follow=True
    )
    assert "请先在操作栏选择一个标签" in response.content.decode()


def test_profile_edit_goes_through_the_service_and_refuses_a_taken_mobile(admin_client_a, in_brand_a, store_a, brand_a):
    owner = MemberFactory(home_store=store_a, mobile="+8613900000001")
    IdentityFactory(member=owner, kind="mobile", value="+8613900000001")
    member = MemberFactory(home_store=store_a, mobile="+8613900000002", name="旧名")
    url = reverse("admin:members_member_change", args=[member.pk])
    response = admin_client_a.post(
        url,
        {"name": "新名", "mobile": "13900000001", "gender": "unknown", "home_store": store_a.pk, **_empty_inlines()},
    )
    assert response.status_code == 200
    assert owner.member_no in response.content.decode()
    connection.set_tenant(brand_a)
    member.refresh_from_db()
    assert member.name == "旧名"


def _empty_inlines():
    data = {}
    for prefix in ("identities", "assignments", "merges_received"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


@pytest.mark.parametrize("role", [STORE_STAFF, STORE_MANAGER])
def test_members_cannot_be_deleted_from_the_admin(in_brand_a, store_a, role):
    member = MemberFactory(home_store=store_a)
    staff_user_create(store=store_a, role=role, username="u@alpha.example")
    client = logged_in_client("alpha", "u@alpha.example")
    assert client.get(reverse("admin:members_member_delete", args=[member.pk])).status_code == 403
