"""Who owns a member (专属导购), driven by WeCom relations: linking external contacts to members,
the brand's assignment policy, prospects linked later, and the round-robin distribution of
unowned members within their home store.

Every ownership change goes through `members.services.members.member_assign` (history with a
reason); this module only decides *who*. Writes to member rows are member_assign's, except
`source` (channel attribution), which is filled once with a conditional UPDATE because members
has no service for it and it must never overwrite an earlier attribution.

Lock order: `callback_event_process` holds the event row, then the follow relation; member rows
are locked last, by member_assign / identity_bind (members' documented order: member rows,
lower id first, before rows that belong to them).
"""

import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.errors import AppError
from members.models import Identity, IdentityKind, Member, MemberAssignment, Staff, Store
from members.selectors import member_lookup
from members.services.members import identity_bind, member_assign, member_source_fill

from . import error_codes
from .handlers import FollowChange
from .hooks import CustomerAdded, customer_added_notify_in_transaction
from .models import AssignmentPolicy, AssignmentSettings, FollowRelation, WecomProspect

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:wecom"
LIVE_STATUSES = (Member.Status.ACTIVE, Member.Status.FROZEN)


# --- settings ----------------------------------------------------------------------------------


def assignment_settings_get() -> AssignmentSettings:
    """The brand's settings; an unsaved default row when none was saved."""
    return AssignmentSettings.objects.first() or AssignmentSettings()


def assignment_settings_save(*, policy: str, transfer_message: str = "") -> AssignmentSettings:
    if policy not in AssignmentPolicy.values:
        raise AppError(
            error_codes.ASSIGNMENT_POLICY_INVALID, f"未知的归属策略：{policy}", fields={"policy": ["invalid"]}
        )
    if len(transfer_message) > 200:
        raise AppError(
            error_codes.ASSIGNMENT_POLICY_INVALID,
            "转接提示语不能超过 200 字。",
            fields={"transfer_message": ["too long"]},
        )
    with transaction.atomic():
        settings_row = AssignmentSettings.objects.select_for_update().first() or AssignmentSettings()
        settings_row.policy = policy
        settings_row.transfer_message = transfer_message
        settings_row.save()
    return settings_row


# --- linking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkResult:
    member: Member | None
    prospect: WecomProspect | None


def _member_for_contact(external_userid: str, unionid: str) -> Member | None:
    member = member_lookup(kind=IdentityKind.WECOM_EXTERNAL_USERID, value=external_userid)
    if member is None and unionid:
        member = member_lookup(kind=IdentityKind.WECHAT_UNIONID, value=unionid)
    if member is not None and member.status not in LIVE_STATUSES:
        return None
    return member


def contact_link_in_transaction(
    *, external_userid: str, unionid: str, name: str = "", staff_userid: str = "", state: str = ""
) -> LinkResult:
    """Bind the external contact to the member with this unionid (or already bound to it), or
    record it as a prospect to link when that member enrols or binds the unionid."""
    member = _member_for_contact(external_userid, unionid)
    if member is not None:
        try:
            identity_bind(
                member=member,
                kind=IdentityKind.WECOM_EXTERNAL_USERID,
                value=external_userid,
                actor=SYSTEM_ACTOR,
            )
        except AppError as exc:
            # Bound to another member already (a merge is a person's decision), or the member
            # cannot be changed: keep it as a prospect, visible in the admin.
            logger.warning("contact %s not linked to member %s: %s", external_userid, member.member_no, exc)
            member = None
        else:
            member_source_fill(member=member, source=state)
            WecomProspect.objects.filter(external_userid=external_userid, linked_member__isnull=True).update(
                linked_member=member, linked_at=timezone.now(), updated_at=timezone.now()
            )
            return LinkResult(member=member, prospect=None)
    prospect, created = WecomProspect.objects.get_or_create(
        external_userid=external_userid,
        defaults={"unionid": unionid, "name": name[:128], "first_staff_userid": staff_userid, "state": state[:64]},
    )
    if not created:
        fields = []
        for field, value in (("unionid", unionid), ("name", name[:128]), ("state", state[:64])):
            if value and not getattr(prospect, field):
                setattr(prospect, field, value)
                fields.append(field)
        if fields:
            prospect.save(update_fields=[*fields, "updated_at"])
    return LinkResult(member=None, prospect=prospect)


def prospects_link_for_member(*, member: Member, actor: str = SYSTEM_ACTOR) -> int:
    """Link the prospects whose unionid is one of `member`'s: bind their external contact, fill
    the source, apply the assignment policy. Call it after a member is enrolled or a
    wechat_unionid identity is bound. Returns how many prospects were linked. Idempotent."""
    unionids = list(
        Identity.objects.filter(member=member, kind=IdentityKind.WECHAT_UNIONID).values_list("value", flat=True)
    )
    if not unionids:
        return 0
    linked = 0
    with transaction.atomic():
        # Member first, then prospects: the callback path (identity_bind, then the prospect
        # UPDATE) locks in that order, and the opposite order here could deadlock with it.
        Member.objects.select_for_update().filter(pk=member.pk).first()
        prospects = list(
            WecomProspect.objects.select_for_update()
            .filter(unionid__in=unionids, linked_member__isnull=True)
            .order_by("created_at", "id")
        )
        for prospect in prospects:
            result = contact_link_in_transaction(
                external_userid=prospect.external_userid,
                unionid=prospect.unionid,
                staff_userid=prospect.first_staff_userid,
                state=prospect.state,
            )
            if result.member is None:
                continue
            linked += 1
            relations = FollowRelation.objects.filter(
                external_userid=prospect.external_userid, deleted_at__isnull=True
            ).order_by("added_at", "id")
            for relation in relations:
                owner_on_add_in_transaction(member=result.member, staff_userid=relation.staff_userid, actor=actor)
    return linked


def prospects_link_pending() -> dict[str, int]:
    """Safety net for callers that enrolled or bound a unionid without calling
    `prospects_link_for_member`: link every prospect whose unionid now belongs to a member."""
    member_ids = set(
        Identity.objects.filter(
            kind=IdentityKind.WECHAT_UNIONID,
            value__in=WecomProspect.objects.filter(linked_member__isnull=True).exclude(unionid="").values("unionid"),
        ).values_list("member_id", flat=True)
    )
    linked = sum(prospects_link_for_member(member=member) for member in Member.objects.filter(pk__in=member_ids))
    return {"members": len(member_ids), "linked": linked}


# --- the policy ---------------------------------------------------------------------------------


def _staff_by_userid(userid: str) -> Staff | None:
    if not userid:
        return None
    return Staff.objects.filter(wecom_userid=userid, status=Staff.Status.ACTIVE).first()


def _member_external_ids(member: Member) -> list[str]:
    return list(
        Identity.objects.filter(member=member, kind=IdentityKind.WECOM_EXTERNAL_USERID).values_list("value", flat=True)
    )


def _follows(member: Member, staff: Staff | None) -> bool:
    if staff is None or not staff.wecom_userid:
        return False
    return FollowRelation.objects.filter(
        external_userid__in=_member_external_ids(member), staff_userid=staff.wecom_userid, deleted_at__isnull=True
    ).exists()


def round_robin_pick(store: Store | None) -> Staff | None:
    """The active staff member of `store` with the fewest members (ties: the longest-serving)."""
    if store is None:
        return None
    from django.db.models import Count

    return (
        Staff.objects.filter(store=store, status=Staff.Status.ACTIVE)
        .annotate(n=Count("assigned_members", filter=Q(assigned_members__status__in=LIVE_STATUSES)))
        .order_by("n", "pk")
        .first()
    )


def owner_on_add_in_transaction(*, member: Member, staff_userid: str, actor: str = SYSTEM_ACTOR) -> Staff | None:
    """The customer (member) added `staff_userid` on WeCom: apply the brand's policy. Returns
    the new owner, or None when ownership did not change."""
    adder = _staff_by_userid(staff_userid)
    member = Member.objects.select_related("assigned_staff", "home_store", "enrolled_by").get(pk=member.pk)
    owner = member.assigned_staff if member.assigned_staff and member.assigned_staff.status == "active" else None
    policy = assignment_settings_get().policy
    target: Staff | None = None
    reason = MemberAssignment.Reason.WECOM_ADD
    if policy == AssignmentPolicy.LAST_ADDED:
        target = adder
    elif policy == AssignmentPolicy.FIRST_ADDED:
        # The first staff member the customer added keeps them while the relation lasts.
        if owner is None or not _follows(member, owner):
            target = adder
    elif policy == AssignmentPolicy.ENROLLING:
        if owner is None:
            enrolled_by = member.enrolled_by
            if enrolled_by is not None and enrolled_by.status == Staff.Status.ACTIVE:
                target, reason = enrolled_by, MemberAssignment.Reason.ENROLMENT
            else:
                target = adder
    elif policy == AssignmentPolicy.ROUND_ROBIN and owner is None:
        target = round_robin_pick(member.home_store)
        reason = MemberAssignment.Reason.ROUND_ROBIN
        if target is None:
            target, reason = adder, MemberAssignment.Reason.WECOM_ADD
    if target is None or target == owner:
        return None
    member_assign(member=member, staff=target, reason=reason, actor=actor, note=f"企业微信添加 {staff_userid}")
    return target


def owner_on_lost_in_transaction(*, external_userid: str, staff_userid: str, actor: str = SYSTEM_ACTOR) -> Staff | None:
    """`staff_userid` lost the relation with this customer (deleted either way, not by a
    transfer). If they owned the member, the member goes to another staff member who still has a
    relation (policy order); with none left the owner stays and the member shows as "relation
    lost" in the ownership review: unassigning would hide them from the store that serves them."""
    member = member_lookup(kind=IdentityKind.WECOM_EXTERNAL_USERID, value=external_userid)
    if member is None or member.status not in LIVE_STATUSES or member.assigned_staff_id is None:
        return None
    owner = Staff.objects.filter(pk=member.assigned_staff_id).first()
    if owner is None or owner.wecom_userid != staff_userid or _follows(member, owner):
        return None
    order = "-added_at" if assignment_settings_get().policy == AssignmentPolicy.LAST_ADDED else "added_at"
    followed_by = list(
        FollowRelation.objects.filter(external_userid__in=_member_external_ids(member), deleted_at__isnull=True)
        .exclude(staff_userid=staff_userid)
        .order_by(order, "id")
        .values_list("staff_userid", flat=True)
    )
    for userid in followed_by:
        candidate = _staff_by_userid(userid)
        if candidate is not None:
            member_assign(
                member=member,
                staff=candidate,
                reason=MemberAssignment.Reason.WECOM_ADD,
                actor=actor,
                note=f"原导购 {staff_userid} 已失去客户关系",
            )
            return candidate
    logger.info("member %s lost the relation with owner %s; flagged for review", member.member_no, staff_userid)
    return None


def follow_change_apply_in_transaction(*, change: FollowChange) -> None:
    """The members side of one processed callback, in `callback_event_process`'s transaction."""
    from .transfers import transfer_fail_record_in_transaction

    if not change.applied:
        return
    if change.kind in ("added", "edited"):
        relation = change.relation
        result = contact_link_in_transaction(
            external_userid=change.external_userid,
            unionid=change.unionid,
            name=relation.name if relation else "",
            staff_userid=change.staff_userid,
            state=change.state,
        )
        if result.member is not None and change.kind == "added":
            owner_on_add_in_transaction(member=result.member, staff_userid=change.staff_userid)
            customer_added_notify_in_transaction(
                CustomerAdded(
                    member_id=result.member.pk,
                    external_userid=change.external_userid,
                    staff_userid=change.staff_userid,
                    state=change.state,
                    added_at=(relation.added_at if relation and relation.added_at else change.event.event_time),
                )
            )
    elif change.kind == "deleted" and change.deleted_by != FollowRelation.DeletedBy.TRANSFER:
        owner_on_lost_in_transaction(external_userid=change.external_userid, staff_userid=change.staff_userid)
    elif change.kind == "transfer_failed":
        transfer_fail_record_in_transaction(
            external_userid=change.external_userid, takeover_userid=change.staff_userid, fail_reason=change.fail_reason
        )


# --- round-robin distribution -------------------------------------------------------------------

_DISTRIBUTION_SQL = """
WITH staff AS (
    SELECT s.id, s.store_id,
           row_number() OVER (PARTITION BY s.store_id ORDER BY
               (SELECT count(*) FROM {member} m2 WHERE m2.assigned_staff_id = s.id
                  AND m2.status IN ('active', 'frozen')), s.id) - 1 AS pos,
           count(*) OVER (PARTITION BY s.store_id) AS n
    FROM {staff} s
    JOIN {store} st ON st.id = s.store_id AND st.is_active
    WHERE s.status = 'active'
), unowned AS (
    SELECT m.id, m.home_store_id,
           row_number() OVER (PARTITION BY m.home_store_id ORDER BY m.id) - 1 AS pos
    FROM {member} m
    WHERE m.assigned_staff_id IS NULL AND m.home_store_id IS NOT NULL AND m.status IN ('active', 'frozen')
)
SELECT unowned.id, staff.id
FROM unowned JOIN staff ON staff.store_id = unowned.home_store_id AND staff.pos = unowned.pos % staff.n
ORDER BY unowned.id
"""


def members_unassigned_distribute(*, actor: str = "system:round_robin") -> dict[str, int]:
    """Give every unowned member with a home store an owner: round-robin among the store's
    active staff, starting with whoever has the fewest members. The plan is one SQL statement;
    each change then goes through member_assign (history, and its re-check under the member
    lock makes a concurrent assignment win rather than be overwritten)."""
    sql = _DISTRIBUTION_SQL.format(member=Member._meta.db_table, staff=Staff._meta.db_table, store=Store._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        plan = cursor.fetchall()
    staff_by_id = {s.pk: s for s in Staff.objects.filter(pk__in={staff_id for _, staff_id in plan})}
    assigned = 0
    for member_id, staff_id in plan:
        with transaction.atomic():
            member = Member.objects.select_for_update().get(pk=member_id)
            if member.assigned_staff_id is not None:
                continue  # assigned meanwhile (a callback, an enrolment): theirs wins
            if member_assign(
                member=member, staff=staff_by_id[staff_id], reason=MemberAssignment.Reason.ROUND_ROBIN, actor=actor
            ):
                assigned += 1
    unowned_left = Member.objects.filter(assigned_staff__isnull=True, status__in=LIVE_STATUSES).count()
    return {"assigned": assigned, "unowned_left": unowned_left}
