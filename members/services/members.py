"""Members and OneID: enrol, bind identities, profile, status, tags, assignment.

Every function validates its input before writing, owns its transaction, and is safe to retry:
a retried enrolment or bind of the same identity is refused with the existing member's number
(enrolment) or is a no-op (bind to the same member), never a second member.

Lock order (shared with members/services/merge.py and the loyalty services): member rows are
locked with `select_for_update`, lower id first, before any row that belongs to them.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from consent.services import (
    consent_enrolment_record,
    consent_enrolment_validate,
    consent_session_consume,
    consent_session_decisions,
)
from consent.types import ConsentDecision, ConsentEvidence
from crm.errors import AppError, Conflict, NotFound

from .. import error_codes
from ..hooks import (
    IdentitiesAdded,
    MemberEnrolled,
    TagsChanged,
    identities_added_notify_in_transaction,
    member_enrolled_notify_in_transaction,
    tags_changed_notify_in_transaction,
)
from ..models import (
    Identity,
    IdentityKind,
    Member,
    MemberAssignment,
    MemberTag,
    SalesChannel,
    Staff,
    Store,
    Tag,
    Tier,
    TierChange,
)
from ..phones import mobile_normalize
from ..selectors import identity_value_normalize, member_lookup

__all__ = [
    "IdentityInput",
    "birthday_locked",
    "identity_bind",
    "member_assign",
    "member_enroll",
    "member_freeze",
    "member_lookup",
    "member_profile_update",
    "member_tag",
    "member_unfreeze",
    "member_untag",
    "members_tag",
    "members_untag",
]

NAME_MAX = 50
OLDEST_BIRTHDAY = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class IdentityInput:
    """An identity to bind at enrolment: (kind, value) as the channel sent it."""

    kind: str
    value: str


def _member_no_next() -> str:
    # A sequence, not max()+1: gap-tolerant, never reused, no race between concurrent enrolments.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('members_member_no_seq')")
        (number,) = cursor.fetchone()
    return f"M{number:08d}"


def _invalid(field: str, message: str, code: str = error_codes.MEMBER_INVALID) -> AppError:
    return AppError(code, message, fields={field: [message]})


def _validate_profile(*, name: str, gender: str, birthday: dt.date | None) -> str:
    name = (name or "").strip()
    if len(name) > NAME_MAX:
        raise _invalid("name", f"姓名不能超过 {NAME_MAX} 个字。")
    if gender not in Member.Gender.values:
        raise _invalid("gender", f"未知的性别：{gender}")
    if birthday is not None:
        if not isinstance(birthday, dt.date) or isinstance(birthday, dt.datetime):
            raise _invalid("birthday", "生日必须是日期。")
        if birthday > timezone.localdate() or birthday < OLDEST_BIRTHDAY:
            raise _invalid("birthday", "生日不在合理范围内。")
    return name


def _validate_store_and_staff(*, home_store: Store | None, staff: Staff | None) -> None:
    if home_store is not None and not home_store.is_active:
        raise _invalid("home_store", f"门店“{home_store}”已停止营业，不能作为归属门店。", error_codes.STORE_INVALID)
    if staff is not None and staff.status != Staff.Status.ACTIVE:
        raise _invalid("staff", f"导购“{staff}”已离职。", error_codes.STAFF_INVALID)


def _normalized_identities(
    *, mobile: str, identities: Iterable[IdentityInput | tuple[str, str]]
) -> list[tuple[str, str]]:
    """(kind, value) pairs, normalised and de-duplicated, the mobile first."""
    pairs: list[tuple[str, str]] = []
    if mobile:
        pairs.append((IdentityKind.MOBILE, mobile))
    for item in identities:
        kind, value = (item.kind, item.value) if isinstance(item, IdentityInput) else item
        pair = (kind, identity_value_normalize(kind=kind, value=value))
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def _bound_member(pairs: Sequence[tuple[str, str]]) -> Member | None:
    if not pairs:
        return None
    condition = Q()
    for kind, value in pairs:
        condition |= Q(kind=kind, value=value)
    identity = Identity.objects.filter(condition).select_related("member").order_by("member_id").first()
    return identity.member if identity else None


def _already_enrolled(member: Member) -> Conflict:
    return Conflict(
        error_codes.MEMBER_ALREADY_ENROLLED,
        f"该顾客已是会员（会员号 {member.member_no}），无需重复入会。",
        extra={"member_no": member.member_no},
    )


def member_enroll(
    *,
    name: str,
    mobile: str,
    gender: str = Member.Gender.UNKNOWN,
    birthday: dt.date | None = None,
    home_store: Store | None = None,
    identities: Iterable[IdentityInput | tuple[str, str]] = (),
    decisions: Sequence[ConsentDecision] | None = None,
    evidence: ConsentEvidence | None = None,
    consent_session_id: int | None = None,
    channel: str = SalesChannel.STORE,
    staff: Staff | None = None,
    source: str = "",
    actor: str,
) -> Member:
    """Enrol one person with their own consent, in one transaction.

    `mobile` (mainland or E.164) is stored normalised on the profile and bound as a `mobile`
    identity; `identities` are further (kind, value) pairs (WeChat unionid, Tmall ouid, ...).
    At least one identity is required: a member nobody can find again is not a member.
    The enrolling `staff` becomes the member's assigned staff (reason enrolment).

    If any of the identities is already bound, nothing is written and Conflict
    (member_already_enrolled, extra.member_no) names the existing member: a retried enrolment of
    the same person is harmless and tells the caller who the member is.

    Consent comes either as `decisions` + `evidence`, or from a submitted in-store consent session
    (`consent_session_id`: the customer's own phone, or a paper form): its decisions and evidence
    are recorded, and the session is consumed inside this transaction, so a refused or failed
    enrolment leaves it usable and a session enrols one member only.
    """
    if consent_session_id is not None:
        if decisions is not None or evidence is not None:
            raise TypeError("member_enroll: pass either consent_session_id or decisions/evidence, not both")
        # Read without consuming, so the consent gate below runs before any write.
        decisions, evidence = consent_session_decisions(session_id=consent_session_id)
    elif decisions is None or evidence is None:
        raise TypeError("member_enroll: decisions and evidence are required without a consent_session_id")
    name = _validate_profile(name=name, gender=gender, birthday=birthday)
    mobile = mobile_normalize(mobile) if (mobile or "").strip() else ""
    pairs = _normalized_identities(mobile=mobile, identities=identities)
    if not pairs:
        raise _invalid("mobile", "入会至少需要手机号或一个会员身份标识。", error_codes.IDENTITY_INVALID)
    if not mobile:
        mobile = next((value for kind, value in pairs if kind == IdentityKind.MOBILE), "")
    if channel not in SalesChannel.values:
        raise _invalid("channel", f"未知的入会渠道：{channel}")
    _validate_store_and_staff(home_store=home_store, staff=staff)
    if home_store is None and staff is not None:
        home_store = staff.store
    source = (source or "").strip()[:64]
    # The consent gate comes before any write (it writes nothing itself).
    consent_enrolment_validate(decisions=decisions, evidence=evidence, birthday=birthday)

    existing = _bound_member(pairs)
    if existing is not None:
        raise _already_enrolled(existing)
    try:
        with transaction.atomic():
            member = Member.objects.create(
                member_no=_member_no_next(),
                name=name,
                mobile=mobile,
                gender=gender,
                birthday=birthday,
                home_store=home_store,
                enrolled_channel=channel,
                enrolled_by=staff,
                assigned_staff=staff,
                source=source,
                lifecycle_stage=Member.Lifecycle.INTEREST,
                tier=_entry_tier(),
            )
            # The unique (kind, value) constraint is what makes a concurrent enrolment of the same
            # person fail here rather than create a second member.
            Identity.objects.bulk_create([Identity(member=member, kind=kind, value=value) for kind, value in pairs])
            if member.tier_id is not None:
                TierChange.objects.create(
                    member=member, to_tier_id=member.tier_id, reason=TierChange.Reason.ENROLMENT, actor=actor
                )
            if staff is not None:
                MemberAssignment.objects.create(
                    member=member, to_staff=staff, reason=MemberAssignment.Reason.ENROLMENT, actor=actor
                )
            if consent_session_id is not None:
                # Re-read under the session's row lock: a concurrent enrolment that consumed it
                # first makes this one fail (and roll back) instead of recording consent twice.
                decisions, evidence = consent_session_consume(session_id=consent_session_id, member_id=member.pk)
            consent_enrolment_record(member_id=member.pk, decisions=decisions, evidence=evidence, actor=actor)
            identities_added_notify_in_transaction(
                IdentitiesAdded(member_id=member.pk, kinds=tuple(sorted({kind for kind, _ in pairs})))
            )
            member_enrolled_notify_in_transaction(MemberEnrolled(member_id=member.pk))
    except IntegrityError as exc:
        winner = _bound_member(pairs)
        if winner is not None:
            raise _already_enrolled(winner) from exc
        raise
    return member


def _entry_tier() -> Tier | None:
    """The lowest tier if it needs nothing to enter (普通会员); otherwise members start without one."""
    tier = Tier.objects.order_by("rank").first()
    return tier if tier is not None and tier.threshold == 0 else None


def _locked(member: Member) -> Member:
    try:
        return Member.objects.select_for_update().get(pk=member.pk)
    except Member.DoesNotExist as exc:
        raise NotFound(error_codes.MEMBER_NOT_FOUND, "会员不存在。") from exc


def _require_live(member: Member) -> None:
    if member.status == Member.Status.MERGED:
        # A merged member always points at its survivor.
        survivor = (
            Member.objects.filter(pk=cast(int, member.merged_into_id)).values_list("member_no", flat=True).first()
        )
        raise AppError(
            error_codes.MEMBER_STATE_INVALID,
            f"会员 {member.member_no} 已合并至 {survivor}，请对合并后的会员操作。",
            extra={"member_no": survivor},
        )
    if member.status == Member.Status.ERASED:
        raise AppError(error_codes.MEMBER_STATE_INVALID, f"会员 {member.member_no} 的个人信息已删除，不能再操作。")


def identity_bind(*, member: Member, kind: str, value: str, actor: str) -> Identity:
    """Bind (kind, value) to `member`. Already bound to the same member: returns it, changes
    nothing. Bound to another member: Conflict(identity_conflict) naming that member — the
    caller resolves it with an explicit `member_merge`, never by moving the identity here."""
    value = identity_value_normalize(kind=kind, value=value)
    try:
        with transaction.atomic():
            member = _locked(member)
            _require_live(member)
            existing = Identity.objects.select_related("member").filter(kind=kind, value=value).first()
            if existing is not None:
                if existing.member_id == member.pk:
                    return existing
                raise _identity_conflict(existing)
            identity = Identity.objects.create(member=member, kind=kind, value=value)
            if kind == IdentityKind.MOBILE and not member.mobile:
                member.mobile = value
                member.save(update_fields=["mobile", "updated_at"])
            identities_added_notify_in_transaction(IdentitiesAdded(member_id=member.pk, kinds=(kind,)))
            return identity
    except IntegrityError as exc:
        # A concurrent bind of the same identity won the unique constraint.
        existing = Identity.objects.select_related("member").filter(kind=kind, value=value).first()
        if existing is None:
            raise
        if existing.member_id == member.pk:
            return existing
        raise _identity_conflict(existing) from exc


def _identity_conflict(identity: Identity) -> Conflict:
    return Conflict(
        error_codes.IDENTITY_CONFLICT,
        f"{identity.get_kind_display()}“{identity.value}”已绑定会员 {identity.member.member_no}；"
        "如确为同一人，请先合并会员。",
        fields={"value": ["conflict"]},
        extra={"member_no": identity.member.member_no},
    )


def member_freeze(*, member: Member, actor: str) -> Member:
    """Freeze (no earning, redeeming or marketing). Freezing a frozen member changes nothing."""
    with transaction.atomic():
        member = _locked(member)
        _require_live(member)
        if member.status != Member.Status.FROZEN:
            member.status = Member.Status.FROZEN
            member.save(update_fields=["status", "updated_at"])
    return member


def member_unfreeze(*, member: Member, actor: str) -> Member:
    with transaction.atomic():
        member = _locked(member)
        _require_live(member)
        if member.status != Member.Status.ACTIVE:
            member.status = Member.Status.ACTIVE
            member.save(update_fields=["status", "updated_at"])
    return member


def member_tag(*, member: Member, tag: Tag, actor: str) -> bool:
    """Tag a member; True if the tag was added now, False if it was already there."""
    return members_tag(member_ids=[member.pk], tag=tag, actor=actor) == 1


# A member tagged by name with several tags in one statement (a scan-code claim tags its
# category, dealer, region and campaign on every claim, issue 28): the tags missing from the
# catalogue are made in `group`, the links missing from the member are added, merged and erased
# members are skipped (as members_tag), and the statement answers with every tag it found or
# made and whether it linked it now. A tag made meanwhile by another transaction is not seen by
# this statement's snapshot (its insert does nothing): it is then read again by the next try.
_TAGS_ADD = f"""
    WITH made AS (
        INSERT INTO {Tag._meta.db_table} (name, "group", wecom_tag_id, created_at, updated_at)
        SELECT name, %(group)s, '', %(now)s, %(now)s FROM unnest(%(names)s::text[]) AS name
        ON CONFLICT (name) DO NOTHING
        RETURNING id, name
    ), tags AS (
        SELECT id, name FROM {Tag._meta.db_table} WHERE name = ANY(%(names)s::text[])
        UNION ALL SELECT id, name FROM made
    ), linked AS (
        INSERT INTO {MemberTag._meta.db_table} (member_id, tag_id, created_at)
        SELECT m.id, tags.id, %(now)s FROM tags, {Member._meta.db_table} m
        WHERE m.id = %(member_id)s AND m.status NOT IN (%(merged)s, %(erased)s)
        ON CONFLICT DO NOTHING
        RETURNING tag_id
    )
    SELECT tags.id, tags.id IN (SELECT tag_id FROM linked) FROM tags
"""  # noqa: S608 - the models' own table names; every value is bound


def member_tags_add(*, member: Member, names: Sequence[str], group: str, actor: str) -> int:
    """Tag `member` with the tags named `names` (made in `group` when the catalogue has none of
    that name) in one statement, whatever their number; returns how many were added now.
    Idempotent, like member_tag; told to the tags-changed hook per tag added."""
    wanted = sorted(set(names))
    if not wanted:
        return 0
    params: dict[str, Any] = {
        "names": wanted,
        "group": group,
        "now": timezone.now(),
        "member_id": member.pk,
        "merged": Member.Status.MERGED,
        "erased": Member.Status.ERASED,
    }
    added: list[int] = []
    with transaction.atomic():
        for _attempt in range(3):
            with connection.cursor() as cursor:
                cursor.execute(_TAGS_ADD, params)
                rows = cursor.fetchall()
            added += [tag_id for tag_id, linked in rows if linked]
            if len(rows) >= len(wanted):
                break
        for tag_id in added:
            tags_changed_notify_in_transaction(TagsChanged(member_ids=(member.pk,), tag_id=tag_id, added=True))
    return len(added)


def member_untag(*, member: Member, tag: Tag, actor: str) -> bool:
    return members_untag(member_ids=[member.pk], tag=tag, actor=actor) == 1


def tag_wecom_id_set(*, tag: Tag, wecom_tag_id: str) -> int:
    """Record the WeCom corp tag that mirrors `tag` (wecom/channels.py keeps them in step)."""
    tag.wecom_tag_id = wecom_tag_id
    return Tag.objects.filter(pk=tag.pk).update(wecom_tag_id=wecom_tag_id, updated_at=timezone.now())


def member_source_fill(*, member: Member, source: str) -> bool:
    """Channel attribution: the first source (a WeCom QR code's `state`) a member came through
    stays their source; True if it was set now."""
    source = (source or "").strip()[:64]
    if not source:
        return False
    return bool(Member.objects.filter(pk=member.pk, source="").update(source=source, updated_at=timezone.now()))


def members_tag(*, member_ids: Iterable[int], tag: Tag, actor: str) -> int:
    """Tag many members in two statements; returns how many were newly tagged. Idempotent.
    Merged and erased members are skipped: they are history, not people to segment."""
    ids = list(
        Member.objects.filter(pk__in=list(member_ids))
        .exclude(status__in=[Member.Status.MERGED, Member.Status.ERASED])
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        already = set(MemberTag.objects.filter(member_id__in=ids, tag=tag).values_list("member_id", flat=True))
        new = [MemberTag(member_id=pk, tag=tag) for pk in ids if pk not in already]
        # ignore_conflicts: a concurrent tagging of the same member is not an error.
        MemberTag.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
        tags_changed_notify_in_transaction(
            TagsChanged(member_ids=tuple(tag_link.member_id for tag_link in new), tag_id=tag.pk, added=True)
        )
    return len(new)


def members_untag(*, member_ids: Iterable[int], tag: Tag, actor: str) -> int:
    with transaction.atomic():
        links = MemberTag.objects.filter(member_id__in=list(member_ids), tag=tag)
        untagged = tuple(links.values_list("member_id", flat=True))
        deleted, _ = links.delete()
        tags_changed_notify_in_transaction(TagsChanged(member_ids=untagged, tag_id=tag.pk, added=False))
    return deleted


_UNSET = object()


def member_profile_update(
    *,
    member: Member,
    actor: str,
    name: str | object = _UNSET,
    gender: str | object = _UNSET,
    birthday: dt.date | object | None = _UNSET,
    home_store: Store | object | None = _UNSET,
    mobile: str | object = _UNSET,
    birthday_in_store: bool = False,
) -> Member:
    """Change profile fields; only the fields passed change. A new mobile is re-bound as the
    member's mobile identity (refused if another member holds it).

    A birthday is set once (DOMAIN "Birthday": a birthday benefit must not be farmed by moving the
    date): once set, it changes only in store — `birthday_in_store=True`, passed by engagement's
    `birthday_change_in_store` alone (staff, a reason, the BirthdayChange audit). Every other path
    (member centre, partner API, back office) is refused with `birthday_locked`, nothing written."""
    with transaction.atomic():
        member = _locked(member)
        _require_live(member)
        changed: list[str] = []
        new_name = member.name if name is _UNSET else name
        new_gender = member.gender if gender is _UNSET else gender
        new_birthday = member.birthday if birthday is _UNSET else birthday
        new_name = _validate_profile(name=str(new_name), gender=str(new_gender), birthday=new_birthday)  # type: ignore[arg-type]
        if member.birthday is not None and new_birthday != member.birthday and not birthday_in_store:
            raise birthday_locked()
        for field, value in (("name", new_name), ("gender", new_gender), ("birthday", new_birthday)):
            if getattr(member, field) != value:
                setattr(member, field, value)
                changed.append(field)
        if home_store is not _UNSET and member.home_store != home_store:
            _validate_store_and_staff(home_store=home_store, staff=None)  # type: ignore[arg-type]
            member.home_store = home_store  # type: ignore[assignment]
            changed.append("home_store")
        if mobile is not _UNSET:
            new_mobile = mobile_normalize(str(mobile)) if str(mobile).strip() else ""
            if new_mobile != member.mobile:
                _mobile_rebind(member=member, old=member.mobile, new=new_mobile)
                member.mobile = new_mobile
                changed.append("mobile")
        if "birthday" in changed:
            member.birthday_changed_at = timezone.now()
            changed.append("birthday_changed_at")
        if changed:
            member.save(update_fields=[*changed, "updated_at"])
    return member


def birthday_locked() -> AppError:
    return AppError(
        error_codes.BIRTHDAY_LOCKED,
        "生日已设置，不能再修改；如需更正，请带上证件到门店，由店员在工作台办理。",
        status=409,
        fields={"birthday": ["生日已设置，只能在门店更正。"]},
    )


def _mobile_rebind(*, member: Member, old: str, new: str) -> None:
    if new:
        holder = Identity.objects.select_related("member").filter(kind=IdentityKind.MOBILE, value=new).first()
        if holder is not None and holder.member_id != member.pk:
            raise _identity_conflict(holder)
        if holder is None:
            Identity.objects.create(member=member, kind=IdentityKind.MOBILE, value=new)
    if old:
        Identity.objects.filter(member=member, kind=IdentityKind.MOBILE, value=old).delete()


def member_assign(
    *, member: Member, staff: Staff | None, reason: str, actor: str, note: str = ""
) -> MemberAssignment | None:
    """Make `staff` the member's 专属导购 (None: unassign), recorded with its reason. Assigning
    the current staff again changes nothing and returns None. WeCom (add contact, transfers)
    and the admin call this."""
    if reason not in MemberAssignment.Reason.values:
        raise _invalid("reason", f"未知的分配原因：{reason}")
    if staff is not None and staff.status != Staff.Status.ACTIVE:
        raise _invalid("staff", f"导购“{staff}”已离职，不能接收会员。", error_codes.STAFF_INVALID)
    with transaction.atomic():
        member = _locked(member)
        _require_live(member)
        if member.assigned_staff_id == (staff.pk if staff else None):
            return None
        assignment = MemberAssignment.objects.create(
            member=member,
            from_staff_id=member.assigned_staff_id,
            to_staff=staff,
            reason=reason,
            actor=actor,
            note=note[:255],
        )
        member.assigned_staff = staff
        member.save(update_fields=["assigned_staff", "updated_at"])
    return assignment
