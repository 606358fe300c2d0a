"""Linking WeCom contacts to members and the brand's assignment policy, through real callbacks:
the fake corp's customer adds a staff member, the signed callback reaches brand A's URL and is
processed (contact details fetched from the fake over HTTP)."""

import pytest
from django_tenants.utils import schema_context

from members.models import Identity, IdentityKind, Member, MemberAssignment
from tests.factories import IdentityFactory, MemberFactory, StaffFactory, StoreFactory
from wecom.assignment import assignment_settings_save, members_unassigned_distribute, prospects_link_for_member
from wecom.models import AssignmentPolicy, CallbackEvent, WecomProspect
from wecom.selectors import Issue, members_needing_attention, ownership_issue_q

from .scene import deliver_and_process, member_with_unionid, scene_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(config_a):
    return scene_create()


def reasons(member: Member) -> list[tuple[str | None, str]]:
    return [
        (a.to_staff.wecom_userid if a.to_staff else None, a.reason)
        for a in MemberAssignment.objects.filter(member=member).order_by("created_at", "pk")
    ]


def test_an_add_links_the_contact_by_unionid_keeps_the_state_and_assigns(config_a, client_a, fake, scene):
    member = member_with_unionid("oUnionChen", store=scene.store)

    event = fake.customer_adds("zhangsan", "wmChen", name="陈女士", unionid="oUnionChen", state="qr_spring")
    deliver_and_process(client_a, fake, event)

    member.refresh_from_db()
    assert Identity.objects.get(kind=IdentityKind.WECOM_EXTERNAL_USERID, value="wmChen").member == member
    assert member.source == "qr_spring"
    assert member.assigned_staff == scene.zhangsan
    assert reasons(member) == [("zhangsan", MemberAssignment.Reason.WECOM_ADD)]
    assert not WecomProspect.objects.exists()


def test_a_source_already_set_is_not_overwritten(config_a, client_a, fake, scene):
    member = member_with_unionid("oUnionChen", store=scene.store, source="tmall_import")

    deliver_and_process(client_a, fake, fake.customer_adds("zhangsan", "wmChen", unionid="oUnionChen", state="qr2"))

    member.refresh_from_db()
    assert member.source == "tmall_import"


def test_an_unknown_customer_is_a_prospect_linked_when_the_member_enrols(config_a, client_a, fake, scene):
    deliver_and_process(
        client_a, fake, fake.customer_adds("lisi", "wmNew", name="新客", unionid="oUnionNew", state="qr_x")
    )

    prospect = WecomProspect.objects.get()
    assert (prospect.unionid, prospect.first_staff_userid, prospect.state, prospect.linked_member) == (
        "oUnionNew",
        "lisi",
        "qr_x",
        None,
    )
    assert not Identity.objects.filter(kind=IdentityKind.WECOM_EXTERNAL_USERID).exists()

    member = member_with_unionid("oUnionNew", store=scene.store)  # enrols later, in store
    assert prospects_link_for_member(member=member) == 1
    assert prospects_link_for_member(member=member) == 0  # idempotent

    member.refresh_from_db()
    prospect.refresh_from_db()
    assert prospect.linked_member == member
    assert Identity.objects.get(kind=IdentityKind.WECOM_EXTERNAL_USERID, value="wmNew").member == member
    assert (member.source, member.assigned_staff) == ("qr_x", scene.lisi)


def test_a_contact_without_unionid_stays_a_prospect(config_a, client_a, fake, scene):
    deliver_and_process(client_a, fake, fake.customer_adds("lisi", "wmAnon", name="匿名"))

    assert WecomProspect.objects.get().unionid == ""
    assert not MemberAssignment.objects.exists()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (AssignmentPolicy.FIRST_ADDED, "lisi"),
        (AssignmentPolicy.LAST_ADDED, "wangwu"),
        (AssignmentPolicy.ENROLLING, "zhangsan"),
        (AssignmentPolicy.ROUND_ROBIN, "zhangsan"),
    ],
)
def test_policy_decides_the_owner_when_the_customer_adds_two_staff(config_a, client_a, fake, scene, policy, expected):
    """Enrolled by zhangsan (who never added the customer on WeCom), then the customer adds lisi,
    later wangwu."""
    assignment_settings_save(policy=policy)
    member = member_with_unionid("oUnionChen", store=scene.store, owner=scene.zhangsan, enrolled_by=scene.zhangsan)

    deliver_and_process(client_a, fake, fake.customer_adds("lisi", "wmChen", unionid="oUnionChen"))
    fake.advance(60)
    deliver_and_process(client_a, fake, fake.customer_adds("wangwu", "wmChen", unionid="oUnionChen"))

    member.refresh_from_db()
    assert member.assigned_staff.wecom_userid == expected


def test_enrolling_policy_gives_an_unowned_member_back_to_the_enrolling_staff(config_a, client_a, fake, scene):
    assignment_settings_save(policy=AssignmentPolicy.ENROLLING)
    member = member_with_unionid("oUnionChen", store=scene.store, owner=None, enrolled_by=scene.wangwu)

    deliver_and_process(client_a, fake, fake.customer_adds("lisi", "wmChen", unionid="oUnionChen"))

    assert reasons(member) == [("wangwu", MemberAssignment.Reason.ENROLMENT)]


def test_round_robin_policy_assigns_an_unowned_member_within_the_home_store(config_a, client_a, fake, scene):
    assignment_settings_save(policy=AssignmentPolicy.ROUND_ROBIN)
    # zhangsan and lisi already own one member each: wangwu has the fewest.
    MemberFactory(home_store=scene.store, assigned_staff=scene.zhangsan)
    MemberFactory(home_store=scene.store, assigned_staff=scene.lisi)
    member = member_with_unionid("oUnionChen", store=scene.store)

    deliver_and_process(client_a, fake, fake.customer_adds("zhangsan", "wmChen", unionid="oUnionChen"))

    assert reasons(member) == [("wangwu", MemberAssignment.Reason.ROUND_ROBIN)]


def test_owner_deleted_by_the_customer_passes_to_another_follower(config_a, client_a, fake, scene):
    member = member_with_unionid("oUnionChen", store=scene.store)
    deliver_and_process(client_a, fake, fake.customer_adds("zhangsan", "wmChen", unionid="oUnionChen"))
    fake.advance(60)
    deliver_and_process(client_a, fake, fake.customer_adds("lisi", "wmChen", unionid="oUnionChen"))
    fake.advance(60)

    deliver_and_process(client_a, fake, fake.customer_deletes_staff("zhangsan", "wmChen"))

    member.refresh_from_db()
    assert member.assigned_staff == scene.lisi
    assert reasons(member)[-1] == ("lisi", MemberAssignment.Reason.WECOM_ADD)


def test_owner_losing_the_only_relation_keeps_the_member_and_flags_it(config_a, client_a, fake, scene):
    member = member_with_unionid("oUnionChen", store=scene.store)
    deliver_and_process(client_a, fake, fake.customer_adds("zhangsan", "wmChen", unionid="oUnionChen"))
    fake.advance(60)

    deliver_and_process(client_a, fake, fake.customer_deletes_staff("zhangsan", "wmChen"))

    member.refresh_from_db()
    assert member.assigned_staff == scene.zhangsan
    flagged = Member.objects.filter(ownership_issue_q(Issue.RELATION_LOST))
    assert list(flagged) == [member]
    assert member in members_needing_attention(Member.objects.all())


def test_the_same_add_delivered_and_processed_twice_assigns_once(config_a, client_a, fake, scene):
    member = member_with_unionid("oUnionChen", store=scene.store)
    event = fake.customer_adds("zhangsan", "wmChen", unionid="oUnionChen", state="qr")

    first = deliver_and_process(client_a, fake, event)
    second = deliver_and_process(client_a, fake, event)  # WeCom re-delivers, the task runs again

    assert first.pk == second.pk and second.status == CallbackEvent.Status.PROCESSED
    assert reasons(member) == [("zhangsan", MemberAssignment.Reason.WECOM_ADD)]
    assert Identity.objects.filter(kind=IdentityKind.WECOM_EXTERNAL_USERID).count() == 1


def test_a_contact_bound_to_another_member_is_not_moved(config_a, client_a, fake, scene):
    other = MemberFactory(home_store=scene.store)
    IdentityFactory(member=other, kind=IdentityKind.WECOM_EXTERNAL_USERID, value="wmChen")
    member_with_unionid("oUnionChen", store=scene.store)

    event = deliver_and_process(client_a, fake, fake.customer_adds("zhangsan", "wmChen", unionid="oUnionChen"))

    # Already bound: the contact's member is `other` (the identity wins), nothing conflicting.
    assert event.status == CallbackEvent.Status.PROCESSED
    assert Identity.objects.get(kind=IdentityKind.WECOM_EXTERNAL_USERID).member == other


def test_distribution_round_robins_unowned_members_within_each_store(in_brand_a):
    store, other_store = StoreFactory(code="RR1"), StoreFactory(code="RR2")
    busy, idle, third = (StaffFactory(store=store) for _ in range(3))
    StaffFactory(store=store, status="resigned", resigned_at="2026-01-01T00:00:00Z")
    MemberFactory(home_store=store, assigned_staff=busy)
    unowned = [MemberFactory(home_store=store) for _ in range(7)]
    elsewhere = MemberFactory(home_store=other_store)  # no active staff there: stays unowned

    summary = members_unassigned_distribute()

    assert summary == {"assigned": 7, "unowned_left": 1}
    owners = [Member.objects.get(pk=m.pk).assigned_staff for m in unowned]
    counts = {s: owners.count(s) for s in (busy, idle, third)}
    assert counts == {busy: 2, idle: 3, third: 2} or counts == {busy: 2, idle: 2, third: 3}
    assert owners[0] in (idle, third)  # the staff with fewest members first
    assert set(MemberAssignment.objects.filter(member__in=unowned).values_list("reason", flat=True)) == {
        MemberAssignment.Reason.ROUND_ROBIN
    }
    assert Member.objects.get(pk=elsewhere.pk).assigned_staff is None
    assert members_unassigned_distribute() == {"assigned": 0, "unowned_left": 1}


def test_brand_b_members_with_the_same_unionid_are_untouched(config_a, client_a, fake, scene, brand_b):
    with schema_context(brand_b.schema_name):
        twin = member_with_unionid("oUnionChen", store=StoreFactory(code="B01"))
    member = member_with_unionid("oUnionChen", store=scene.store)

    deliver_and_process(client_a, fake, fake.customer_adds("zhangsan", "wmChen", unionid="oUnionChen", state="qr"))

    member.refresh_from_db()
    assert member.assigned_staff == scene.zhangsan
    with schema_context(brand_b.schema_name):
        twin.refresh_from_db()
        assert (twin.assigned_staff, twin.source) == (None, "")
        assert not Identity.objects.filter(kind=IdentityKind.WECOM_EXTERNAL_USERID).exists()
        assert not MemberAssignment.objects.exists()
