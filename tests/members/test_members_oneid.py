"""OneID: look-up by every identity kind, bind (conflict, no-op), freeze, tags, profile, assign."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.errors import AppError, Conflict
from members import error_codes
from members.models import Identity, IdentityKind, Member, MemberAssignment, MemberTag, Tag
from members.selectors import member_ids_with_merged, member_lookup, members_search
from members.services.members import (
    identity_bind,
    member_assign,
    member_freeze,
    member_profile_update,
    member_tag,
    member_tags_add,
    member_unfreeze,
    member_untag,
    members_tag,
)
from tests.factories import MemberFactory, StaffFactory, TagFactory

VALUES = {
    IdentityKind.MOBILE: ("138 0013 8000", "+8613800138000"),
    IdentityKind.WECHAT_UNIONID: ("oUnion123", "oUnion123"),
    IdentityKind.WECHAT_OPENID: ("oOpen123", "oOpen123"),
    IdentityKind.WECOM_EXTERNAL_USERID: ("wmExt123", "wmExt123"),
    IdentityKind.TMALL_OUID: ("tm-ouid-1", "tm-ouid-1"),
    IdentityKind.JD_PIN: ("jd_pin_1", "jd_pin_1"),
    IdentityKind.DOUYIN_OPENID: ("dy-open-1", "dy-open-1"),
    IdentityKind.POS_CARD: ("8800123", "8800123"),
}


def test_lookup_by_every_identity_kind_finds_the_same_member(enrol):
    member = enrol(mobile="13800138000")
    for kind, (typed, _stored) in VALUES.items():
        if kind != IdentityKind.MOBILE:
            identity_bind(member=member, kind=kind, value=f" {typed} ", actor="test")
    for kind, (typed, stored) in VALUES.items():
        assert member_lookup(kind=kind, value=typed) == member, kind
        assert member_lookup(kind=kind, value=stored) == member, kind
    assert member_lookup(kind="member_no", value=member.member_no.lower()) == member
    assert member_lookup(kind=IdentityKind.POS_CARD, value="unknown") is None


def test_lookup_with_bad_input_is_an_error_not_a_miss(in_brand_a):
    with pytest.raises(AppError) as caught:
        member_lookup(kind="qq", value="1")
    assert caught.value.code == error_codes.IDENTITY_INVALID
    with pytest.raises(AppError) as caught:
        member_lookup(kind=IdentityKind.MOBILE, value="123")
    assert caught.value.code == error_codes.MOBILE_INVALID


def test_lookup_follows_merges_to_the_survivor(in_brand_a):
    survivor = MemberFactory()
    merged = MemberFactory(status=Member.Status.MERGED, merged_into=survivor)
    older = MemberFactory(status=Member.Status.MERGED, merged_into=merged)
    assert member_lookup(kind="member_no", value=older.member_no) == survivor
    assert set(member_ids_with_merged(member=survivor)) == {survivor.pk, merged.pk, older.pk}


def test_binding_twice_to_the_same_member_is_a_no_op(enrol):
    member = enrol()
    first = identity_bind(member=member, kind=IdentityKind.JD_PIN, value="pin-1", actor="test")
    again = identity_bind(member=member, kind=IdentityKind.JD_PIN, value="pin-1 ", actor="test")
    assert first.pk == again.pk
    assert Identity.objects.filter(kind=IdentityKind.JD_PIN, value="pin-1").count() == 1


def test_binding_an_identity_of_another_member_is_a_conflict_naming_it(enrol):
    owner, other = enrol(), enrol()
    identity_bind(member=owner, kind=IdentityKind.TMALL_OUID, value="ouid-1", actor="test")
    with pytest.raises(Conflict) as caught:
        identity_bind(member=other, kind=IdentityKind.TMALL_OUID, value="ouid-1", actor="test")
    assert caught.value.code == error_codes.IDENTITY_CONFLICT
    assert caught.value.extra["member_no"] == owner.member_no
    assert Identity.objects.get(kind=IdentityKind.TMALL_OUID, value="ouid-1").member == owner


def test_binding_to_a_merged_member_is_refused(in_brand_a):
    survivor = MemberFactory()
    merged = MemberFactory(status=Member.Status.MERGED, merged_into=survivor)
    with pytest.raises(AppError) as caught:
        identity_bind(member=merged, kind=IdentityKind.POS_CARD, value="1", actor="test")
    assert caught.value.code == error_codes.MEMBER_STATE_INVALID
    assert caught.value.extra["member_no"] == survivor.member_no


def test_freeze_and_unfreeze_are_idempotent(enrol):
    member = enrol()
    assert member_freeze(member=member, actor="t").status == Member.Status.FROZEN
    assert member_freeze(member=member, actor="t").status == Member.Status.FROZEN
    assert member_unfreeze(member=member, actor="t").status == Member.Status.ACTIVE
    assert member_unfreeze(member=member, actor="t").status == Member.Status.ACTIVE


def test_erased_members_cannot_be_frozen(in_brand_a):
    member = MemberFactory(status=Member.Status.ERASED)
    with pytest.raises(AppError) as caught:
        member_freeze(member=member, actor="t")
    assert caught.value.code == error_codes.MEMBER_STATE_INVALID
    member.refresh_from_db()
    assert member.status == Member.Status.ERASED


def test_tag_and_untag_are_idempotent(enrol):
    member, tag = enrol(), TagFactory(name="高净值")
    assert member_tag(member=member, tag=tag, actor="t") is True
    assert member_tag(member=member, tag=tag, actor="t") is False
    assert MemberTag.objects.filter(member=member, tag=tag).count() == 1
    assert member_untag(member=member, tag=tag, actor="t") is True
    assert member_untag(member=member, tag=tag, actor="t") is False


def test_bulk_tag_skips_merged_members_and_counts_new_ones(in_brand_a):
    tag = TagFactory(name="咖啡爱好者")
    live = MemberFactory.create_batch(3)
    merged = MemberFactory(status=Member.Status.MERGED, merged_into=live[0])
    member_tag(member=live[0], tag=tag, actor="t")
    assert members_tag(member_ids=[m.pk for m in [*live, merged]], tag=tag, actor="t") == 2
    assert set(MemberTag.objects.filter(tag=tag).values_list("member_id", flat=True)) == {m.pk for m in live}


def test_tags_by_name_make_the_missing_tags_and_links_in_one_statement(in_brand_a):
    member, existing = MemberFactory(), TagFactory(name="咖啡爱好者", group="兴趣")
    merged = MemberFactory(status=Member.Status.MERGED, merged_into=member)
    names = ["咖啡爱好者", "扫码·咖啡豆", "区域·上海"]
    with CaptureQueriesContext(connection) as queries:
        assert member_tags_add(member=member, names=names, group="一物一码", actor="t") == 3
    assert len([q for q in queries.captured_queries if "members_tag" in q["sql"]]) == 1
    assert member_tags_add(member=member, names=[*names, "扫码·咖啡豆"], group="一物一码", actor="t") == 0
    assert set(MemberTag.objects.filter(member=member).values_list("tag__name", flat=True)) == set(names)
    assert Tag.objects.get(name="扫码·咖啡豆").group == "一物一码"
    assert Tag.objects.get(pk=existing.pk).group == "兴趣"  # an existing tag is used as it is
    assert member_tags_add(member=merged, names=names, group="一物一码", actor="t") == 0  # history, not a person
    assert not MemberTag.objects.filter(member=merged).exists()


def test_profile_update_rebinds_the_mobile_identity(enrol):
    member = enrol(mobile="13900000001")
    member_profile_update(member=member, actor="t", mobile="139 0000 0002", name="新名字")
    member.refresh_from_db()
    assert (member.mobile, member.name) == ("+8613900000002", "新名字")
    assert list(member.identities.filter(kind="mobile").values_list("value", flat=True)) == ["+8613900000002"]


def test_profile_update_to_another_members_mobile_is_a_conflict_and_changes_nothing(enrol):
    owner, member = enrol(mobile="13900000011"), enrol(mobile="13900000012")
    name = member.name
    with pytest.raises(Conflict):
        member_profile_update(member=member, actor="t", mobile="13900000011", name="不应保存")
    member.refresh_from_db()
    # Neither field changed (not just "not both": the update is all or nothing).
    assert (member.mobile, member.name) == ("+8613900000012", name)
    assert member_lookup(kind="mobile", value="13900000011") == owner


def test_assign_records_history_and_is_a_no_op_for_the_same_staff(enrol, staff_a):
    member = enrol()
    colleague = StaffFactory(store=staff_a.store)
    assignment = member_assign(member=member, staff=colleague, reason="transfer", actor="t")
    assert (assignment.from_staff, assignment.to_staff) == (staff_a, colleague)
    assert member_assign(member=member, staff=colleague, reason="transfer", actor="t") is None
    assert MemberAssignment.objects.filter(member=member).count() == 2  # enrolment + transfer
    with pytest.raises(AppError):
        member_assign(member=member, staff=colleague, reason="because", actor="t")


def test_search_by_member_no_mobile_identity_and_name(enrol):
    member = enrol(name="王小明", mobile="13911112222", identities=[("pos_card", "CARD-77")])
    enrol(name="别人")
    for query in (member.member_no, "139 1111 2222", "+8613911112222", "CARD-77", "小明"):
        assert list(members_search(Member.objects.all(), query)) == [member], query
