"""Reads of members: OneID look-up, search, what merges left behind, and import jobs."""

import re
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from crm.errors import AppError

from . import error_codes
from .models import Identity, IdentityKind, ImportJob, Member
from .phones import mobile_normalize, mobile_normalize_or_none
from .scoping import user_scope

IDENTITY_VALUE_MAX = 128
# Look-up also accepts the member number, which is not an identity kind.
MEMBER_NO = "member_no"
# Merges can chain (A into B, later B into C); a longer chain means corrupted data, not a person.
_MERGE_CHAIN_MAX = 20
_MEMBER_NO_PREFIX = re.compile(r"^[Mm]\d{3,}$")
# Django builds `IdentityKind.values` as a new list on every access (~10 µs): checked on every order.
_IDENTITY_KINDS = frozenset(IdentityKind.values)


def identity_value_normalize(*, kind: str, value: str) -> str:
    """The stored form of an identity value: E.164 for mobiles, stripped text otherwise."""
    if kind not in _IDENTITY_KINDS:
        message = f"未知的身份类型：{kind}"
        raise AppError(error_codes.IDENTITY_INVALID, message, fields={"kind": [message]})
    value = (value or "").strip()
    if kind == IdentityKind.MOBILE:
        return mobile_normalize(value)
    if not value or len(value) > IDENTITY_VALUE_MAX:
        message = f"身份标识值不能为空，且不超过 {IDENTITY_VALUE_MAX} 个字符。"
        raise AppError(error_codes.IDENTITY_INVALID, message, fields={"value": [message]})
    return value


def member_lookup(*, kind: str, value: str) -> Member | None:
    """The member behind an identity (or a member number), following merges to the survivor.
    None if nobody is bound. Invalid input (unknown kind, bad mobile) is an AppError."""
    if kind == MEMBER_NO:
        member = Member.objects.filter(member_no=(value or "").strip().upper()).first()
    else:
        normalized = identity_value_normalize(kind=kind, value=value)
        identity = Identity.objects.select_related("member").filter(kind=kind, value=normalized).first()
        member = identity.member if identity else None
    return member_survivor(member) if member is not None else None


def member_survivor(member: Member) -> Member:
    """The member that `member` was (eventually) merged into, or `member` itself."""
    for _ in range(_MERGE_CHAIN_MAX):
        if member.merged_into_id is None:
            return member
        member = Member.objects.get(pk=member.merged_into_id)
    raise AppError(error_codes.MERGE_INVALID, f"会员 {member.member_no} 的合并链过长，请联系管理员。")


def member_ids_with_merged(*, member: Member) -> list[int]:
    """`member` and every member merged into it (transitively). Consent records and tier
    history stay on the merged members; read them for the survivor with
    `ConsentRecord.objects.filter(member_id__in=member_ids_with_merged(member=survivor))`."""
    ids = [member.pk]
    frontier = [member.pk]
    for _ in range(_MERGE_CHAIN_MAX):
        frontier = list(Member.objects.filter(merged_into_id__in=frontier).values_list("pk", flat=True))
        if not frontier:
            break
        ids.extend(frontier)
    return ids


def members_search_q(query: str) -> Q:
    """What a search box matches: member number, mobile (however typed), any identity value
    (exact: identities are ids, not prose) and the name (contains)."""
    query = (query or "").strip()
    if not query:
        return Q()
    condition = Q(member_no__iexact=query) | Q(name__icontains=query)
    if _MEMBER_NO_PREFIX.match(query):
        # Staff type the start of a number from a card or receipt: a prefix of M + digits.
        condition |= Q(member_no__startswith=query.upper())
    values = {query}
    mobile = mobile_normalize_or_none(query)
    if mobile is not None:
        condition |= Q(mobile=mobile)
        values.add(mobile)
    # EXISTS, not a join: a member with several matching identities still appears once.
    condition |= Q(Exists(Identity.objects.filter(member_id=OuterRef("pk"), value__in=values)))
    return condition


def members_search(queryset: QuerySet[Member], query: str) -> QuerySet[Member]:
    return queryset.filter(members_search_q(query))


def import_jobs_visible(*, user: Any, kind: str) -> QuerySet[ImportJob]:
    """The import jobs of `kind` a user may follow: their own; every one of the brand's for users
    who see all stores. Without the stored file (a page that polls must not read megabytes)."""
    jobs = ImportJob.objects.filter(kind=kind).defer("content")
    return jobs if user_scope(user).all_stores else jobs.filter(user=user)
