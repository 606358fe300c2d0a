"""Consent records: every consent decision, whatever the channel, is recorded here.

The records are append-only proof (the database refuses UPDATE/DELETE); `ConsentState` is the
current reading of them, written in the same transaction as each record.

Lock order (every service in this app): Member rows (ascending pk) → Agreement → AgreementVersion
→ ConsentState rows → ConsentSession / DataRequest. The Member lock also serialises the first
insert of a member's ConsentState rows.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from crm.errors import AppError, Conflict, NotFound
from members.models import Member

from .. import error_codes
from ..hooks import ConsentRevoked, consent_revoked_notify_in_transaction
from ..models import Agreement, AgreementVersion, ConsentRecord, ConsentState, Purpose
from ..types import ConsentDecision, ConsentEvidence

# PIPL art. 31: personal information of minors under 14 needs a guardian's consent.
GUARDIAN_CONSENT_BELOW_AGE = 14


def age_on(birthday: dt.date, day: dt.date) -> int:
    return day.year - birthday.year - ((day.month, day.day) < (birthday.month, birthday.day))


def agreement_version_current(*, agreement_id: int, at: dt.datetime | None = None) -> AgreementVersion | None:
    """The version of an agreement in force at `at`: the latest published one already effective."""
    return (
        AgreementVersion.objects.filter(
            agreement_id=agreement_id, published_at__isnull=False, effective_at__lte=at or timezone.now()
        )
        .order_by("-effective_at", "-version")
        .first()
    )


def agreement_versions_current(*, at: dt.datetime | None = None) -> list[AgreementVersion]:
    """The version in force of every agreement that has one, membership first."""
    versions = (
        AgreementVersion.objects.filter(published_at__isnull=False, effective_at__lte=at or timezone.now())
        .select_related("agreement")
        .order_by("agreement_id", "-effective_at", "-version")
        .distinct("agreement_id")
    )
    kind_order = {kind: index for index, kind in enumerate(Agreement.Kind.values)}
    return sorted(versions, key=lambda version: (kind_order[version.agreement.kind], version.agreement.code))


def purpose_version_current(*, purpose: str, at: dt.datetime | None = None) -> AgreementVersion | None:
    """The version in force that lists `purpose` (a purpose belongs to one agreement at a time;
    agreement_version_publish refuses a second one)."""
    return next((v for v in agreement_versions_current(at=at) if purpose in v.purposes), None)


def membership_version_current(*, at: dt.datetime | None = None) -> AgreementVersion | None:
    """The membership terms/privacy policy version that enrolment must be consented against."""
    agreement = Agreement.objects.filter(kind=Agreement.Kind.MEMBERSHIP).order_by("id").first()
    return agreement_version_current(agreement_id=agreement.pk, at=at) if agreement else None


def membership_version_for_enrolment() -> AgreementVersion:
    """The membership version in force, if it is complete; otherwise enrolment is refused.

    The one gate of every enrolment path (member_enroll from the admin, the partner API and the
    import; the consent pages and sessions): PIPL art. 17 — people are told who processes their
    data and how to reach them before they consent, so there is no consenting to a brand that has
    published nothing, or only a template with 【…】 blanks (brands set up before contacts were
    required, see migration 0006). Reads only; the refusal names what the brand admin must do.
    """
    current = membership_version_current()
    if current is None or current.placeholders():
        raise Conflict(
            error_codes.CONSENT_MEMBERSHIP_AGREEMENT_INCOMPLETE,
            "本品牌尚未发布完整的会员协议与隐私政策（须写明品牌名称、联系地址和个人信息保护联系方式），"
            "暂不能办理入会。请品牌管理员在后台“协议版本”中补全会员协议并发布。",
        )
    return current


def _purpose_validate(purpose: str) -> None:
    if purpose not in Purpose.values:
        raise AppError(error_codes.CONSENT_UNKNOWN_PURPOSE, f"未知的授权目的：{purpose}", fields={"purpose": [purpose]})


def _evidence_validate(evidence: ConsentEvidence) -> None:
    """The brand must be able to show how it obtained the decision (PIPL art. 14: consent is given
    by the person, informed, by the brand itself)."""
    if evidence.channel not in ConsentRecord.Channel.values:
        raise AppError(
            error_codes.CONSENT_EVIDENCE_MISSING, f"未知的授权渠道：{evidence.channel}", fields={"channel": ["invalid"]}
        )
    if evidence.channel == ConsentRecord.Channel.PARTNER_API and not evidence.partner_reference.strip():
        raise AppError(
            error_codes.CONSENT_EVIDENCE_MISSING,
            "合作方需提供品牌自身取得授权的凭证编号（平台授权不能替代品牌授权）。",
            fields={"partner_reference": ["required"]},
        )
    if evidence.channel == ConsentRecord.Channel.STORE and evidence.staff_id is None:
        raise AppError(error_codes.CONSENT_EVIDENCE_MISSING, "门店授权需记录经办导购。", fields={"staff": ["required"]})


def _guardian_validate(*, birthday: dt.date | None, evidence: ConsentEvidence) -> None:
    if birthday is not None and age_on(birthday, timezone.localdate()) < GUARDIAN_CONSENT_BELOW_AGE:
        guardian = evidence.guardian
        if guardian is None or not guardian.name.strip() or not guardian.relation.strip():
            raise AppError(
                error_codes.CONSENT_GUARDIAN_REQUIRED,
                "未满 14 周岁的会员需要监护人同意（监护人姓名与关系）。",
                fields={"guardian": ["required"]},
            )


def consent_enrolment_validate(
    *,
    decisions: Sequence[ConsentDecision],
    evidence: ConsentEvidence,
    birthday: dt.date | None,
) -> None:
    """Refuse an enrolment whose consent the brand could not rely on. Writes nothing.

    - `membership` must be granted, against the brand's current membership version;
    - every purpose is its own decision (no duplicates, each against a current published version
      that lists that purpose); optional purposes may be refused or left out — never required;
    - under 14 needs a guardian's consent;
    - the brand must have obtained the consent itself: a partner sends its own reference to the
      brand's consent evidence (a platform's consent is not the brand's), store staff are named.
    Before all that, the brand must have a complete membership agreement in force
    (`membership_version_for_enrolment`).
    """
    current_membership = membership_version_for_enrolment()
    seen: set[str] = set()
    for decision in decisions:
        _purpose_validate(decision.purpose)
        if decision.purpose in seen:
            raise AppError(
                error_codes.CONSENT_DUPLICATE_PURPOSE,
                f"授权目的“{decision.purpose}”重复提交；每个目的只能有一个决定。",
                fields={"consents": [decision.purpose]},
            )
        seen.add(decision.purpose)

    versions = AgreementVersion.objects.in_bulk([decision.version_id for decision in decisions])
    for decision in decisions:
        version = versions.get(decision.version_id)
        current = agreement_version_current(agreement_id=version.agreement_id) if version else None
        if version is None or current is None or current.pk != version.pk:
            raise AppError(
                error_codes.CONSENT_VERSION_NOT_CURRENT,
                "授权所依据的协议版本不是当前生效的版本，请让会员阅读最新版本后重新授权。",
                fields={"consents": [f"{decision.purpose}: version {decision.version_id}"]},
            )
        if decision.purpose not in version.purposes:
            raise AppError(
                error_codes.CONSENT_PURPOSE_NOT_IN_VERSION,
                f"协议“{version}”不包含授权目的“{decision.purpose}”。",
                fields={"consents": [decision.purpose]},
            )

    membership = next((d for d in decisions if d.purpose == Purpose.MEMBERSHIP), None)
    if membership is None or not membership.granted:
        raise AppError(
            error_codes.CONSENT_MEMBERSHIP_REQUIRED,
            "入会需要会员本人同意当前版本的会员协议与隐私政策。",
            fields={"consents": ["membership"]},
        )
    if membership.version_id != current_membership.pk:
        raise AppError(
            error_codes.CONSENT_VERSION_NOT_CURRENT,
            "会员协议已更新，请让会员阅读并同意当前版本。",
            fields={"consents": ["membership"]},
        )
    _guardian_validate(birthday=birthday, evidence=evidence)
    _evidence_validate(evidence)


def consent_enrolment_record(
    *,
    member_id: int,
    decisions: Sequence[ConsentDecision],
    evidence: ConsentEvidence,
    actor: str,
) -> list[ConsentRecord]:
    """Record the validated enrolment decisions (granted and refused alike: a refusal is proof
    too) and the member's current state. Called by `member_enroll` inside its transaction, after
    `consent_enrolment_validate`."""
    now = timezone.now()
    with transaction.atomic():
        records = ConsentRecord.objects.bulk_create(
            [
                ConsentRecord(
                    member_id=member_id,
                    version_id=decision.version_id,
                    purpose=decision.purpose,
                    granted=decision.granted,
                    recorded_at=now,
                    channel=evidence.channel,
                    evidence=evidence.as_json(),
                    actor=actor,
                )
                for decision in decisions
            ]
        )
        _states_write(records)
    return records


def _states_write(records: Sequence[ConsentRecord]) -> None:
    """Make each record the current state of its (member, purpose). A new record always answers
    the latest version it names, so it clears any pending re-consent flag."""
    ConsentState.objects.bulk_create(
        [
            ConsentState(
                member_id=record.member_id,
                purpose=record.purpose,
                granted=record.granted,
                needs_reconsent=False,
                version_id=record.version_id,
                record=record,
                updated_at=record.recorded_at,
            )
            for record in records
        ],
        update_conflicts=True,
        unique_fields=["member", "purpose"],
        update_fields=["granted", "needs_reconsent", "version", "record", "updated_at"],
    )


def _member_lock(member_id: int) -> Member:
    try:
        return Member.objects.select_for_update().get(pk=member_id)
    except Member.DoesNotExist:
        raise NotFound(error_codes.MEMBER_NOT_FOUND, "会员不存在。") from None


def revoked_purposes(purposes: Sequence[str]) -> tuple[str, ...]:
    """Which purposes stop counting when `purposes` do: membership carries all others (the
    contactability selector needs membership consent for every purpose)."""
    if Purpose.MEMBERSHIP in purposes:
        return tuple(Purpose.values)
    return tuple(purposes)


def consent_grant(
    *,
    member_id: int,
    purpose: str,
    evidence: ConsentEvidence,
    actor: str,
    version_id: int | None = None,
) -> ConsentState:
    """Record that the member grants `purpose` against the version in force (the text they were
    shown; pass its id when the caller displayed one, so a version published meanwhile is
    refused instead of silently consented to). Granting again what is already granted to that
    version records nothing: a double tap or a retried request is harmless."""
    _purpose_validate(purpose)
    _evidence_validate(evidence)
    with transaction.atomic():
        member = _member_lock(member_id)
        if member.status == Member.Status.ERASED or member.merged_into_id is not None:
            raise AppError(error_codes.CONSENT_MEMBER_NOT_ACTIVE, "该会员已删除或已合并，不能再记录授权。")
        current = purpose_version_current(purpose=purpose)
        if current is None:
            raise AppError(
                error_codes.CONSENT_NO_CURRENT_VERSION,
                f"“{Purpose(purpose).label}”没有已发布的协议版本，无法取得授权。",
                fields={"purpose": [purpose]},
            )
        if version_id is not None and version_id != current.pk:
            raise AppError(
                error_codes.CONSENT_VERSION_NOT_CURRENT,
                "协议已更新，请阅读当前版本后再同意。",
                fields={"version": [str(version_id)]},
            )
        _guardian_validate(birthday=member.birthday, evidence=evidence)
        state = ConsentState.objects.select_for_update().filter(member_id=member.pk, purpose=purpose).first()
        if state is not None and state.effective and state.version_id == current.pk:
            return state
        record = ConsentRecord.objects.create(
            member_id=member.pk,
            version=current,
            purpose=purpose,
            granted=True,
            recorded_at=timezone.now(),
            channel=evidence.channel,
            evidence=evidence.as_json(),
            actor=actor,
        )
        _states_write([record])
    return ConsentState.objects.get(member_id=member.pk, purpose=purpose)


def consent_withdraw(*, member_id: int, purpose: str, evidence: ConsentEvidence, actor: str) -> ConsentState | None:
    """Record that the member withdraws `purpose` (PIPL art. 15: as easy as granting, effective at
    once). Inside the same transaction the `on_withdraw` handlers cancel whatever is queued for
    the purpose. Withdrawing what is not granted records nothing (safe to retry)."""
    _purpose_validate(purpose)
    # Only the channel is checked: asking for more proof to withdraw than to grant would make
    # withdrawal harder than granting (PIPL art. 15).
    if evidence.channel not in ConsentRecord.Channel.values:
        raise AppError(
            error_codes.CONSENT_EVIDENCE_MISSING, f"未知的授权渠道：{evidence.channel}", fields={"channel": ["invalid"]}
        )
    with transaction.atomic():
        member = _member_lock(member_id)
        records = _withdraw_records(member=member, purposes=[purpose], evidence=evidence, actor=actor)
        if records:
            consent_revoked_notify_in_transaction(
                ConsentRevoked(
                    member_ids=Member.objects.filter(pk=member.pk).values_list("pk", flat=True),
                    purposes=revoked_purposes([purpose]),
                    reason="withdrawn",
                )
            )
    return ConsentState.objects.filter(member_id=member.pk, purpose=purpose).first()


def _withdraw_records(
    *, member: Member, purposes: Sequence[str], evidence: ConsentEvidence, actor: str
) -> list[ConsentRecord]:
    """Append a withdrawal for each granted purpose of a locked member (against the version that
    was granted: that is the consent being withdrawn)."""
    states = ConsentState.objects.select_for_update().filter(member_id=member.pk, purpose__in=purposes, granted=True)
    now = timezone.now()
    records = ConsentRecord.objects.bulk_create(
        [
            ConsentRecord(
                member_id=member.pk,
                version_id=state.version_id,
                purpose=state.purpose,
                granted=False,
                recorded_at=now,
                channel=evidence.channel,
                evidence=evidence.as_json(),
                actor=actor,
            )
            for state in states.order_by("purpose")
        ]
    )
    _states_write(records)
    return records


def consent_member_merge(*, survivor_id: int, merged_id: int, actor: str) -> list[ConsentRecord]:
    """Carry the merged member's consent decisions to the survivor (records are append-only, so
    they cannot be re-pointed): for each purpose where the merged member decided more recently
    than the survivor, the survivor gets a copy of that decision (same version, same time, same
    channel, evidence naming the original record). The merged member keeps its own history.
    Call inside `member_merge`'s transaction."""
    with transaction.atomic():
        for member_id in sorted([survivor_id, merged_id]):
            _member_lock(member_id)
        survivor_states = {
            s.purpose: s for s in ConsentState.objects.filter(member_id=survivor_id).select_related("record")
        }
        copies = []
        merged_states = ConsentState.objects.filter(member_id=merged_id).select_related("record").order_by("purpose")
        for state in merged_states:
            mine = survivor_states.get(state.purpose)
            if mine is not None and mine.record.recorded_at >= state.record.recorded_at:
                continue
            source = state.record
            copies.append(
                ConsentRecord(
                    member_id=survivor_id,
                    version_id=source.version_id,
                    purpose=source.purpose,
                    granted=source.granted,
                    recorded_at=source.recorded_at,
                    channel=source.channel,
                    evidence={**source.evidence, "merged_from_record": source.pk, "merged_from_member": merged_id},
                    actor=actor,
                )
            )
        records = ConsentRecord.objects.bulk_create(copies)
        _states_write(records)
        # A copied grant of a version that has since been superseded materially stays stale.
        stale = {s.purpose for s in merged_states if s.granted and s.needs_reconsent}
        ConsentState.objects.filter(member_id=survivor_id, purpose__in=stale, record__in=records).update(
            needs_reconsent=True
        )
    return records


@dataclass(frozen=True)
class StateMismatch:
    member_id: int
    purpose: str
    history_record_id: int | None
    state_record_id: int | None


_TRUTH_SQL = """
WITH latest AS (
    SELECT DISTINCT ON (r.member_id, r.purpose) r.id, r.member_id, r.purpose, r.granted, r.version_id, r.recorded_at
    FROM consent_consentrecord r
    ORDER BY r.member_id, r.purpose, r.recorded_at DESC, r.id DESC
), truth AS (
    SELECT l.*, (l.granted AND EXISTS (
        SELECT 1 FROM consent_agreementversion v
        JOIN consent_agreementversion later ON later.agreement_id = v.agreement_id
        WHERE v.id = l.version_id AND later.version > v.version AND later.published_at IS NOT NULL
          AND l.purpose = ANY(later.reconsent_purposes)
    )) AS stale
    FROM latest l
)
"""

_MISMATCH_SQL = (
    _TRUTH_SQL
    + """
SELECT COALESCE(t.member_id, s.member_id), COALESCE(t.purpose, s.purpose), t.id, s.record_id
FROM truth t FULL OUTER JOIN consent_consentstate s ON s.member_id = t.member_id AND s.purpose = t.purpose
WHERE t.id IS DISTINCT FROM s.record_id
   OR t.granted IS DISTINCT FROM s.granted
   OR t.version_id IS DISTINCT FROM s.version_id
   OR t.stale IS DISTINCT FROM (s.granted AND s.needs_reconsent)
ORDER BY 1, 2
"""
)

_REPAIR_SQL = (
    _TRUTH_SQL
    + """
INSERT INTO consent_consentstate (member_id, purpose, granted, needs_reconsent, version_id, record_id, updated_at)
SELECT member_id, purpose, granted, stale, version_id, id, recorded_at FROM truth
ON CONFLICT (member_id, purpose) DO UPDATE SET
    granted = EXCLUDED.granted, needs_reconsent = EXCLUDED.needs_reconsent, version_id = EXCLUDED.version_id,
    record_id = EXCLUDED.record_id, updated_at = EXCLUDED.updated_at
WHERE (consent_consentstate.granted, consent_consentstate.needs_reconsent, consent_consentstate.version_id,
       consent_consentstate.record_id)
      IS DISTINCT FROM (EXCLUDED.granted, EXCLUDED.needs_reconsent, EXCLUDED.version_id, EXCLUDED.record_id)
"""
)


def consent_state_audit(*, limit: int = 1000) -> list[StateMismatch]:
    """Compare the current-state table with a reading of the history (the truth), in one SQL
    statement over the brand. An empty list proves they agree."""
    with connection.cursor() as cursor:
        cursor.execute(_MISMATCH_SQL + " LIMIT %s", [limit])
        return [StateMismatch(*row) for row in cursor.fetchall()]


def consent_state_repair() -> int:
    """Rewrite the current-state rows that disagree with the history (the history wins). Returns
    how many rows were written."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Same lock order as the services would take per member is impractical for a whole
        # brand; an exclusive table lock keeps concurrent grants out while the rows are rewritten.
        cursor.execute("LOCK TABLE consent_consentstate IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(_REPAIR_SQL)
        return cursor.rowcount
