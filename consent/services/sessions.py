"""In-store enrolment consent sessions.

Staff open a session in the admin and show its QR code; the customer decides each purpose on
their own phone (the record then carries that device's IP and user agent, and the staff member).
Or staff record a signed paper form (flagged `paper`, with the form's reference).

For `member_enroll` (members app), inside its transaction:

    decisions, evidence = consent_session_consume(session_id=..., member_id=member.pk)
    consent_enrolment_validate(decisions=decisions, evidence=evidence, birthday=birthday)
    consent_enrolment_record(member_id=member.pk, decisions=decisions, evidence=evidence, actor=...)

`consent_session_decisions` reads the same without consuming (to validate before creating the
member). A session is consumed once: a second enrolment from the same consent is refused.
"""

import secrets
from collections.abc import Collection

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from crm.errors import AppError, NotFound
from members.models import Member, Staff

from .. import error_codes
from ..models import ConsentRecord, ConsentSession, Purpose
from ..types import ConsentDecision, ConsentEvidence, GuardianConsent
from .links import SESSION_LINK_MAX_AGE, link_read, link_sign
from .records import agreement_versions_current, consent_enrolment_validate, membership_version_for_enrolment


def consent_session_open(*, staff_id: int, actor: str) -> ConsentSession:
    """A session for the customer's phone, valid for 30 minutes. Refused while the brand has no
    complete membership agreement: the customer would have nothing valid to consent to."""
    membership_version_for_enrolment()
    if not Staff.objects.filter(pk=staff_id, status=Staff.Status.ACTIVE).exists():
        raise AppError(error_codes.CONSENT_EVIDENCE_MISSING, "请选择在职的经办导购。", fields={"staff": ["invalid"]})
    return ConsentSession.objects.create(
        mode=ConsentSession.Mode.DEVICE,
        staff_id=staff_id,
        nonce=secrets.token_hex(16),
        expires_at=timezone.now() + SESSION_LINK_MAX_AGE,
        actor=actor,
    )


def consent_session_path(*, session: ConsentSession) -> str:
    token = link_sign(kind="session", payload={"s": session.pk, "n": session.nonce})
    return reverse("consent:session", args=[token])


def consent_session_from_token(token: str) -> ConsentSession:
    payload = link_read(kind="session", token=token, max_age=SESSION_LINK_MAX_AGE)
    session_id = payload.get("s")
    # The signed payload holds the session's int id; without one the link is refused like an unknown session.
    session = (
        ConsentSession.objects.filter(pk=session_id, nonce=payload.get("n")).first()
        if isinstance(session_id, int)
        else None
    )
    if session is None:
        raise AppError(error_codes.CONSENT_LINK_INVALID, "链接无效。", status=404)
    return session


def consent_decisions_for(ticked: Collection[str]) -> list[ConsentDecision]:
    """One decision per purpose of every agreement in force: ticked = granted, anything else
    refused (unticked is a refusal, never a silent grant)."""
    unknown = set(ticked) - set(Purpose.values)
    if unknown:
        raise AppError(error_codes.CONSENT_UNKNOWN_PURPOSE, "未知的授权目的。", fields={"consents": sorted(unknown)})
    return [
        ConsentDecision(purpose=purpose, granted=purpose in ticked, version_id=version.pk)
        for version in agreement_versions_current()
        for purpose in version.purposes
    ]


def consent_session_submit(
    *,
    session_id: int,
    ticked: Collection[str],
    ip: str,
    user_agent: str,
    guardian: GuardianConsent | None = None,
) -> ConsentSession:
    """The customer's decisions from their own phone. Once per session; nothing is saved unless
    the whole submission is acceptable (membership ticked, guardian complete when declared)."""
    with transaction.atomic():
        session = ConsentSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            raise NotFound(error_codes.CONSENT_LINK_INVALID, "链接无效。")
        if session.status != ConsentSession.Status.OPEN:
            raise AppError(error_codes.CONSENT_SESSION_CLOSED, "本次授权已提交或已取消，请将手机交还导购。")
        if session.is_expired():
            raise AppError(error_codes.CONSENT_SESSION_EXPIRED, "二维码已过期，请导购重新生成。", status=410)
        decisions = consent_decisions_for(ticked)
        evidence = ConsentEvidence(
            channel=ConsentRecord.Channel.STORE,
            staff_id=session.staff_id,
            ip=ip,
            user_agent=user_agent[:500],
            guardian=guardian,
            extra={"consent_session": str(session.pk), "device": "customer"},
        )
        # Birthday is not known yet; member_enroll validates again with it (guardian rule).
        consent_enrolment_validate(decisions=decisions, evidence=evidence, birthday=None)
        if guardian is not None and (not guardian.name.strip() or not guardian.relation.strip()):
            raise AppError(
                error_codes.CONSENT_GUARDIAN_REQUIRED, "请填写监护人姓名与关系。", fields={"guardian": ["required"]}
            )
        session.decisions = [d.__dict__ for d in decisions]
        session.evidence = evidence.as_json()
        session.status = ConsentSession.Status.SUBMITTED
        session.submitted_at = timezone.now()
        session.save(update_fields=["decisions", "evidence", "status", "submitted_at", "updated_at"])
    return session


def consent_session_record_paper(
    *,
    staff_id: int,
    ticked: Collection[str],
    paper_reference: str,
    actor: str,
    guardian: GuardianConsent | None = None,
) -> ConsentSession:
    """Staff record a consent the customer signed on paper. The form's reference is required (the
    paper is the proof and must be findable); the records are flagged `paper`."""
    if not paper_reference.strip():
        raise AppError(
            error_codes.CONSENT_EVIDENCE_MISSING, "请填写纸质授权书编号。", fields={"paper_reference": ["required"]}
        )
    decisions = consent_decisions_for(ticked)
    evidence = ConsentEvidence(
        channel=ConsentRecord.Channel.STORE,
        staff_id=staff_id,
        paper=True,
        guardian=guardian,
        extra={"paper_reference": paper_reference.strip()},
    )
    consent_enrolment_validate(decisions=decisions, evidence=evidence, birthday=None)
    if not Staff.objects.filter(pk=staff_id, status=Staff.Status.ACTIVE).exists():
        raise AppError(error_codes.CONSENT_EVIDENCE_MISSING, "请选择在职的经办导购。", fields={"staff": ["invalid"]})
    now = timezone.now()
    return ConsentSession.objects.create(
        mode=ConsentSession.Mode.PAPER,
        status=ConsentSession.Status.SUBMITTED,
        staff_id=staff_id,
        nonce=secrets.token_hex(16),
        expires_at=now,
        decisions=[d.__dict__ for d in decisions],
        evidence=evidence.as_json(),
        submitted_at=now,
        actor=actor,
    )


def _evidence_from_json(data: dict[str, object]) -> ConsentEvidence:
    known = {"channel", "staff_id", "ip", "user_agent", "partner_reference", "paper", "guardian"}
    guardian = data.get("guardian")
    return ConsentEvidence(
        channel=str(data.get("channel", ConsentRecord.Channel.STORE)),
        staff_id=data.get("staff_id"),  # type: ignore[arg-type]
        ip=str(data.get("ip", "")),
        user_agent=str(data.get("user_agent", "")),
        partner_reference=str(data.get("partner_reference", "")),
        paper=bool(data.get("paper", False)),
        guardian=GuardianConsent(**guardian) if isinstance(guardian, dict) else None,
        extra={k: str(v) for k, v in data.items() if k not in known},
    )


def _session_read(session: ConsentSession) -> tuple[list[ConsentDecision], ConsentEvidence]:
    if session.status != ConsentSession.Status.SUBMITTED:
        raise AppError(
            error_codes.CONSENT_SESSION_CLOSED,
            f"该授权会话{session.get_status_display()}，不能用于入会。",
            fields={"consent_session": [session.status]},
        )
    assert session.submitted_at is not None  # a submitted session has its time (check constraint)
    decisions = [ConsentDecision(**d) for d in session.decisions]
    evidence = _evidence_from_json({"channel": ConsentRecord.Channel.STORE, **session.evidence})
    evidence = ConsentEvidence(
        **{**evidence.__dict__, "extra": {**evidence.extra, "submitted_at": session.submitted_at.isoformat()}}
    )
    return decisions, evidence


def consent_session_decisions(*, session_id: int) -> tuple[list[ConsentDecision], ConsentEvidence]:
    """The decisions and evidence of a submitted session, without consuming it."""
    session = ConsentSession.objects.filter(pk=session_id).first()
    if session is None:
        raise NotFound(error_codes.CONSENT_SESSION_NOT_FOUND, "授权会话不存在。")
    return _session_read(session)


def consent_session_consume(*, session_id: int, member_id: int) -> tuple[list[ConsentDecision], ConsentEvidence]:
    """Mark a submitted session as used for `member_id` and return its decisions and evidence.
    Call inside member_enroll's transaction: if enrolment fails, the session is untouched."""
    with transaction.atomic():
        session = ConsentSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None:
            raise NotFound(error_codes.CONSENT_SESSION_NOT_FOUND, "授权会话不存在。")
        result = _session_read(session)
        if not Member.objects.filter(pk=member_id).exists():
            raise NotFound(error_codes.MEMBER_NOT_FOUND, "会员不存在。")
        session.status = ConsentSession.Status.CONSUMED
        session.member_id = member_id
        session.consumed_at = timezone.now()
        session.save(update_fields=["status", "member", "consumed_at", "updated_at"])
    return result


def consent_session_cancel(*, session_id: int, actor: str) -> ConsentSession:
    with transaction.atomic():
        session = ConsentSession.objects.select_for_update().get(pk=session_id)
        if session.status == ConsentSession.Status.CONSUMED:
            raise AppError(error_codes.CONSENT_SESSION_CLOSED, "该授权会话已用于入会，不能取消。")
        if session.status != ConsentSession.Status.CANCELLED:
            session.status = ConsentSession.Status.CANCELLED
            session.save(update_fields=["status", "updated_at"])
    return session
