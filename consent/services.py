"""Consent services. Every consent decision, whatever the channel, is recorded here."""

import datetime as dt
from collections.abc import Sequence

from django.utils import timezone

from crm.errors import AppError

from . import error_codes
from .models import Agreement, AgreementVersion, ConsentRecord, Purpose
from .types import ConsentDecision, ConsentEvidence

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


def membership_version_current(*, at: dt.datetime | None = None) -> AgreementVersion | None:
    """The membership terms/privacy policy version that enrolment must be consented against."""
    agreement = Agreement.objects.filter(kind=Agreement.Kind.MEMBERSHIP).order_by("id").first()
    return agreement_version_current(agreement_id=agreement.pk, at=at) if agreement else None


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
    """
    seen: set[str] = set()
    for decision in decisions:
        if decision.purpose not in Purpose.values:
            raise AppError(
                error_codes.CONSENT_UNKNOWN_PURPOSE,
                f"未知的授权目的：{decision.purpose}",
                fields={"consents": [decision.purpose]},
            )
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
    current_membership = membership_version_current()
    if membership is None or not membership.granted or current_membership is None:
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

    if birthday is not None and age_on(birthday, timezone.localdate()) < GUARDIAN_CONSENT_BELOW_AGE:
        guardian = evidence.guardian
        if guardian is None or not guardian.name.strip() or not guardian.relation.strip():
            raise AppError(
                error_codes.CONSENT_GUARDIAN_REQUIRED,
                "未满 14 周岁的会员入会需要监护人同意（监护人姓名与关系）。",
                fields={"guardian": ["required"]},
            )

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


def consent_enrolment_record(
    *,
    member_id: int,
    decisions: Sequence[ConsentDecision],
    evidence: ConsentEvidence,
    actor: str,
) -> list[ConsentRecord]:
    """Record the validated enrolment decisions (granted and refused alike: a refusal is proof
    too). Called by `member_enroll` inside its transaction, after `consent_enrolment_validate`."""
    now = timezone.now()
    return ConsentRecord.objects.bulk_create(
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
