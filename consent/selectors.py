"""Reads about consent. `members_contactable` is THE answer to "may we contact this member for
this purpose": campaigns, exports and every other contact path must ask it, nothing else decides."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from crm.errors import AppError
from members.models import Member

from . import error_codes
from .models import AgreementVersion, ConsentRecord, ConsentState, Purpose


def members_processable() -> QuerySet[Member]:
    """Members any processing may touch: not erased, not frozen, not merged into another."""
    return Member.objects.filter(status=Member.Status.ACTIVE, merged_into__isnull=True, erased_at__isnull=True)


def members_contactable(*, purpose: str, at: dt.datetime | None = None) -> QuerySet[Member]:
    """Members who may be contacted (processed) for `purpose`.

    A member is contactable when they are active (not frozen, erased or merged) and hold
    effective consent — latest decision granted, and no later version of the agreement required
    re-consent — both for `purpose` and for `membership` (withdrawing the membership terms, or
    a materially changed privacy policy not yet re-accepted, stops every purpose).

    `at=None` reads the current-state table (one indexed semi-join per purpose, fit for a
    million members). `at=<time>` reads the history instead ("who was contactable at T"); the
    member's status is today's (status history is not kept: an erased or frozen member is never
    returned, whatever T).
    """
    if purpose not in Purpose.values:
        raise AppError(error_codes.CONSENT_UNKNOWN_PURPOSE, f"未知的授权目的：{purpose}", fields={"purpose": [purpose]})
    members = members_processable()
    for required in {purpose, Purpose.MEMBERSHIP}:
        if at is None:
            effective = ConsentState.objects.filter(
                member_id=OuterRef("pk"), purpose=required, granted=True, needs_reconsent=False
            )
            members = members.filter(Exists(effective))
        else:
            members = members.filter(pk__in=_effective_member_ids_at(purpose=required, at=at))
    return members


# Why a member is not contactable, in checking order (each member counts under the first gate they
# fail). `contact_gates` is `members_contactable` (current state) cut into named conditions, so a
# contact path can say who it left out and why; the channel's own gates (a mobile for SMS, wecom's
# for WeCom) follow. Merged members are nobody's audience: callers start from unmerged members.
CONTACT_EXCLUSIONS = {
    "erased": "已删除",
    "frozen": "已冻结",
    "needs_reconsent": "需重新授权",
    "no_consent": "未授权该渠道",
    "no_mobile": "无手机号",
}


def contact_gates(*, purpose: str | None) -> list[tuple[str, Q]]:
    """(reason, condition a contactable member satisfies), in checking order; `purpose=None`: only
    the status gates (processing without a message)."""
    gates: list[tuple[str, Q]] = [
        ("erased", ~Q(status=Member.Status.ERASED) & Q(erased_at__isnull=True)),
        ("frozen", Q(status=Member.Status.ACTIVE)),
    ]
    if purpose is None:
        return gates
    purposes = [purpose, Purpose.MEMBERSHIP]
    stale = ConsentState.objects.filter(member_id=OuterRef("pk"), purpose__in=purposes, needs_reconsent=True)
    gates.append(("needs_reconsent", Q(~Exists(stale))))
    consent = Q()
    for required in purposes:
        effective = ConsentState.objects.filter(
            member_id=OuterRef("pk"), purpose=required, granted=True, needs_reconsent=False
        )
        consent &= Q(Exists(effective))
    gates.append(("no_consent", consent))
    return gates


SMS_GATE = ("no_mobile", ~Q(mobile=""))


def _effective_member_ids_at(*, purpose: str, at: dt.datetime) -> QuerySet:
    latest = (
        ConsentRecord.objects.filter(purpose=purpose, recorded_at__lte=at)
        .order_by("member_id", "-recorded_at", "-id")
        .distinct("member_id")
        .values("id")
    )
    superseded = AgreementVersion.objects.filter(
        agreement_id=OuterRef("version__agreement_id"),
        version__gt=OuterRef("version__version"),
        published_at__lte=at,
        reconsent_purposes__contains=[purpose],
    )
    return ConsentRecord.objects.filter(pk__in=latest, granted=True).exclude(Exists(superseded)).values("member_id")


@dataclass(frozen=True)
class PurposeState:
    purpose: str
    granted: bool
    needs_reconsent: bool
    version_id: int
    record_id: int
    recorded_at: dt.datetime
    channel: str

    @property
    def effective(self) -> bool:
        return self.granted and not self.needs_reconsent


def consent_state_at(*, member: Member, at: dt.datetime | None = None) -> dict[str, PurposeState]:
    """What the member had agreed to at `at` (default now), per purpose they ever decided, read
    from the history alone (not from the current-state table)."""
    at = at or timezone.now()
    latest: dict[str, ConsentRecord] = {}
    records = ConsentRecord.objects.filter(member=member, recorded_at__lte=at).select_related("version")
    for record in records.order_by("recorded_at", "id"):
        latest[record.purpose] = record
    later_versions = list(
        AgreementVersion.objects.filter(
            agreement_id__in={r.version.agreement_id for r in latest.values()}, published_at__lte=at
        ).values("agreement_id", "version", "reconsent_purposes")
    )
    result = {}
    for purpose, record in latest.items():
        stale = record.granted and any(
            v["agreement_id"] == record.version.agreement_id
            and v["version"] > record.version.version
            and purpose in v["reconsent_purposes"]
            for v in later_versions
        )
        result[purpose] = PurposeState(
            purpose=purpose,
            granted=record.granted,
            needs_reconsent=stale,
            version_id=record.version_id,
            record_id=record.pk,
            recorded_at=record.recorded_at,
            channel=record.channel,
        )
    return result
