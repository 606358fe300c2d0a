"""Reads for the assignment pages: each member's WeCom relation with their owner, and the
members whose ownership needs a person. Annotations (EXISTS subqueries), so a list page is one
query however many rows it shows."""

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils.translation import gettext_lazy as _

from members.models import Identity, IdentityKind, Member, Staff

from .models import ContactWay, CustomerTransfer, FollowRelation


class WecomStatus:
    FOLLOWING = "following"
    DELETED = "deleted"
    NO_CONTACT = "no_contact"
    LABELS = {FOLLOWING: _("好友"), DELETED: _("已删除"), NO_CONTACT: _("未添加企业微信")}


class Issue:
    NO_OWNER = "no_owner"
    OWNER_RESIGNED = "owner_resigned"
    TRANSFER_PENDING = "transfer_pending"
    TRANSFER_FLAGGED = "transfer_flagged"
    RELATION_LOST = "relation_lost"
    LABELS = {
        NO_OWNER: _("无专属导购"),
        OWNER_RESIGNED: _("导购已离职"),
        TRANSFER_PENDING: _("转接进行中"),
        TRANSFER_FLAGGED: _("转接未成功"),
        RELATION_LOST: _("导购已失去企业微信好友关系"),
    }


# What a WeCom message to a member needs beyond consent (consent.selectors.contact_gates): it goes
# out as a group message through the member's own staff to the member's external contact id, so
# no active staff with a WeCom account or no relation, no message. Campaigns and check-in
# reminders both send through these gates.
WECOM_EXCLUSIONS = {"no_staff": "无企业微信专属导购", "no_wecom": "未添加企业微信好友"}


def wecom_reach_gates() -> list[tuple[str, Q]]:
    relation = Identity.objects.filter(member_id=OuterRef("pk"), kind=IdentityKind.WECOM_EXTERNAL_USERID)
    return [
        ("no_staff", Q(assigned_staff__status=Staff.Status.ACTIVE, assigned_staff__wecom_userid__gt="")),
        ("no_wecom", Q(Exists(relation))),
    ]


def wecom_external_userid() -> Subquery:
    """The member's external contact id (their first WeCom relation), for annotating members."""
    relation = Identity.objects.filter(member_id=OuterRef("pk"), kind=IdentityKind.WECOM_EXTERNAL_USERID)
    return Subquery(relation.order_by("id").values("value")[:1])


def _owner_relations() -> QuerySet[FollowRelation]:
    return FollowRelation.objects.filter(
        staff_userid=OuterRef("assigned_staff__wecom_userid"),
        external_userid__in=Identity.objects.filter(
            member_id=OuterRef(OuterRef("pk")), kind=IdentityKind.WECOM_EXTERNAL_USERID
        ).values("value"),
    )


def members_with_wecom_status(queryset: QuerySet[Member]) -> QuerySet[Member]:
    """Annotate `wecom_status`: following (the owner has the customer as a WeCom friend),
    deleted (they had, and it ended), no_contact (never, or no external contact at all)."""
    relations = _owner_relations()
    return queryset.annotate(
        wecom_status=Case(
            When(Exists(relations.filter(deleted_at__isnull=True)), then=Value(WecomStatus.FOLLOWING)),
            When(Exists(relations), then=Value(WecomStatus.DELETED)),
            default=Value(WecomStatus.NO_CONTACT),
            output_field=CharField(),
        )
    )


def _latest_transfer_flagged() -> Exists:
    # Flagged only while the latest transfer of the member is the flagged one: a later success
    # (or a new attempt) resolves it.
    later = CustomerTransfer.objects.filter(member_id=OuterRef(OuterRef("pk")), pk__gt=OuterRef("pk"))
    return Exists(
        CustomerTransfer.objects.filter(member_id=OuterRef("pk"), status__in=CustomerTransfer.FLAGGED)
        .exclude(Exists(later))
        .filter(handover_id=F("member__assigned_staff_id"))
    )


def ownership_issue_q(issue: str) -> Q:
    live = Q(status__in=[Member.Status.ACTIVE, Member.Status.FROZEN])
    if issue == Issue.NO_OWNER:
        return live & Q(assigned_staff__isnull=True)
    if issue == Issue.OWNER_RESIGNED:
        return live & Q(assigned_staff__status=Staff.Status.RESIGNED)
    if issue == Issue.TRANSFER_PENDING:
        return live & Q(
            Exists(CustomerTransfer.objects.filter(member_id=OuterRef("pk"), status__in=CustomerTransfer.OPEN))
        )
    if issue == Issue.TRANSFER_FLAGGED:
        return live & Q(_latest_transfer_flagged())
    if issue == Issue.RELATION_LOST:
        relations = _owner_relations()
        return (
            live
            & Q(assigned_staff__isnull=False)
            & Q(Exists(relations))
            & ~Q(Exists(relations.filter(deleted_at__isnull=True)))
        )
    raise ValueError(issue)


def members_needing_attention(queryset: QuerySet[Member]) -> QuerySet[Member]:
    """Members whose ownership needs a person (any Issue). Nobody is left without an owner
    silently: every such member is in this set until someone acts."""
    combined = Q()
    for issue in Issue.LABELS:
        combined |= ownership_issue_q(issue)
    return queryset.filter(combined)


def contact_way_name(state: str) -> str | None:
    """The name the marketer gave the channel QR code carrying `state` (a member's source)."""
    return ContactWay.objects.filter(state=state).values_list("name", flat=True).first()
