"""Agreements and their versions. A draft may be edited; a published version never changes (the
database refuses it too, migration 0004): consent records point at the exact text people saw."""

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from crm.errors import AppError, NotFound

from .. import error_codes
from ..agreement_text import (
    MEMBERSHIP_TEMPLATE,
    MEMBERSHIP_TITLE,
    membership_text_fill,
    placeholders_in,
    template_mark_drop,
)
from ..hooks import ConsentRevoked, consent_revoked_notify_in_transaction
from ..models import Agreement, AgreementVersion, ConsentState, Purpose
from .records import agreement_version_current, agreement_versions_current, revoked_purposes


def agreement_create(*, code: str, kind: str, title: str) -> Agreement:
    code, title = code.strip(), title.strip()
    errors: dict[str, list[str]] = {}
    if not code:
        errors["code"] = ["协议编码不能为空。"]
    if kind not in Agreement.Kind.values:
        errors["kind"] = [f"未知的协议类型：{kind}"]
    if not title:
        errors["title"] = ["标题不能为空。"]
    if errors:
        raise AppError(error_codes.CONSENT_VERSION_INVALID, "协议信息有误。", fields=errors)
    with transaction.atomic():
        agreement, _ = Agreement.objects.get_or_create(code=code, defaults={"kind": kind, "title": title})
    return agreement


def _content_validate(
    *,
    agreement: Agreement,
    text: str,
    purposes: Sequence[str],
    recipient: str,
    recipient_purpose: str,
    data_categories: Sequence[str],
) -> None:
    errors: dict[str, list[str]] = {}
    if not text.strip():
        errors["text"] = ["协议正文不能为空。"]
    unknown = [p for p in purposes if p not in Purpose.values]
    if not purposes or unknown:
        errors["purposes"] = [f"请选择有效的处理目的{('：' + '、'.join(unknown)) if unknown else '。'}"]
    elif len(set(purposes)) != len(purposes):
        errors["purposes"] = ["处理目的不能重复。"]
    # Membership terms are the basis of the membership itself; keeping that purpose in the
    # membership agreement (and only there) is what lets enrolment find "the current version".
    if Purpose.MEMBERSHIP in purposes and agreement.kind != Agreement.Kind.MEMBERSHIP:
        errors["purposes"] = ["“会员服务”只能列在会员协议与隐私政策中。"]
    if agreement.kind == Agreement.Kind.MEMBERSHIP and Purpose.MEMBERSHIP not in purposes:
        errors["purposes"] = ["会员协议与隐私政策必须包含“会员服务”目的。"]
    # PIPL art. 23: providing personal information to another processor needs separate consent
    # after telling the person the recipient's name, the purpose and the categories of data.
    if Purpose.THIRD_PARTY_SHARE in purposes:
        if not recipient.strip():
            errors["recipient"] = ["向第三方提供个人信息必须写明接收方名称。"]
        if not recipient_purpose.strip():
            errors["recipient_purpose"] = ["必须写明接收方的处理目的。"]
        if not [c for c in data_categories if c.strip()]:
            errors["data_categories"] = ["必须写明提供的个人信息种类。"]
    if errors:
        raise AppError(error_codes.CONSENT_VERSION_INVALID, "协议版本内容有误，请修改后重试。", fields=errors)


def agreement_version_validate(
    *,
    agreement_id: int,
    text: str,
    purposes: Sequence[str],
    recipient: str = "",
    recipient_purpose: str = "",
    data_categories: Sequence[str] = (),
) -> None:
    """The draft checks alone, writing nothing (for forms that show errors next to fields)."""
    agreement = Agreement.objects.filter(pk=agreement_id).first()
    if agreement is None:
        raise NotFound(error_codes.AGREEMENT_NOT_FOUND, "协议不存在。")
    _content_validate(
        agreement=agreement,
        text=text,
        purposes=purposes,
        recipient=recipient,
        recipient_purpose=recipient_purpose,
        data_categories=data_categories,
    )


def agreement_version_draft_save(
    *,
    agreement_id: int,
    text: str,
    purposes: Sequence[str],
    recipient: str = "",
    recipient_purpose: str = "",
    data_categories: Sequence[str] = (),
    material_change: bool = False,
    version_id: int | None = None,
) -> AgreementVersion:
    """Create a draft (next version number) or edit an existing draft. A published version is
    refused: publish a new version instead."""
    with transaction.atomic():
        try:
            agreement = Agreement.objects.select_for_update().get(pk=agreement_id)
        except Agreement.DoesNotExist:
            raise NotFound(error_codes.AGREEMENT_NOT_FOUND, "协议不存在。") from None
        _content_validate(
            agreement=agreement,
            text=text,
            purposes=purposes,
            recipient=recipient,
            recipient_purpose=recipient_purpose,
            data_categories=data_categories,
        )
        fields = {
            "text": text,
            "purposes": list(purposes),
            "recipient": recipient.strip(),
            "recipient_purpose": recipient_purpose.strip(),
            "data_categories": [c.strip() for c in data_categories if c.strip()],
            "material_change": material_change,
        }
        if version_id is None:
            number = (agreement.versions.aggregate(n=Max("version"))["n"] or 0) + 1
            return AgreementVersion.objects.create(agreement=agreement, version=number, **fields)
        version = AgreementVersion.objects.select_for_update().filter(pk=version_id, agreement=agreement).first()
        if version is None:
            raise NotFound(error_codes.AGREEMENT_VERSION_NOT_FOUND, "协议版本不存在。")
        if version.is_published:
            raise AppError(
                error_codes.CONSENT_VERSION_PUBLISHED, f"“{version}”已发布，不能修改；如需变更请发布新版本。"
            )
        for name, value in fields.items():
            setattr(version, name, value)
        version.save(update_fields=[*fields, "updated_at"])
        return version


def reconsent_purposes_for(*, previous: AgreementVersion | None, new: AgreementVersion) -> list[str]:
    """Which purposes consented under `previous` no longer count once `new` is published.

    Decision (PIPL art. 14 para. 2: a change of purpose, method or categories needs new consent):
    - a purpose dropped from the agreement: its old consent no longer has terms behind it;
    - if the set of purposes changed, or the author marked the text as a material change, every
      purpose the two versions share: consent was given to a text that no longer applies;
    - third-party sharing whose recipient, recipient purpose or data categories changed, even if
      not marked: art. 23 consent names exactly those;
    - otherwise (wording, contact details, the brand naming itself in the template) nothing:
      earlier consents carry over.
    """
    if previous is None:
        return []
    old, now = set(previous.purposes), set(new.purposes)
    affected = old - now
    if new.material_change or old != now:
        affected |= old & now
    if Purpose.THIRD_PARTY_SHARE in old & now and (
        previous.recipient != new.recipient
        or previous.recipient_purpose != new.recipient_purpose
        or sorted(previous.data_categories) != sorted(new.data_categories)
    ):
        affected.add(Purpose.THIRD_PARTY_SHARE)
    return sorted(affected)


def agreement_version_publish(*, version_id: int, actor: str) -> AgreementVersion:
    """Publish a draft: it becomes the version in force at once and can never change again.

    Members holding consent under an earlier version for a purpose in `reconsent_purposes` are
    flagged in the same transaction (one UPDATE, however many members) and `on_withdraw` handlers
    cancel what is queued for them: until they re-consent those purposes count as not granted.
    Publishing an already published version returns it unchanged (safe to retry).
    """
    with transaction.atomic():
        version = AgreementVersion.objects.filter(pk=version_id).only("agreement_id").first()
        if version is None:
            raise NotFound(error_codes.AGREEMENT_VERSION_NOT_FOUND, "协议版本不存在。")
        agreement = Agreement.objects.select_for_update().get(pk=version.agreement_id)
        version = AgreementVersion.objects.select_for_update().get(pk=version_id)
        if version.is_published:
            return version
        _content_validate(
            agreement=agreement,
            text=version.text,
            purposes=version.purposes,
            recipient=version.recipient,
            recipient_purpose=version.recipient_purpose,
            data_categories=version.data_categories,
        )
        # A draft may keep the template's blanks while someone completes it; the text people
        # consent to may not (PIPL art. 17: it names the processor and how to reach it).
        if blanks := version.placeholders():
            listed = "、".join(blanks)
            raise AppError(
                error_codes.CONSENT_AGREEMENT_PLACEHOLDERS,
                f"协议正文仍有待填写的占位内容：{listed}。请改为实际内容（如品牌名称、联系地址、"
                "个人信息保护联系方式）后再发布。",
                fields={"text": [f"请替换：{listed}"]},
                extra={"placeholders": listed},
            )
        previous = agreement_version_current(agreement_id=agreement.pk)
        if previous is not None and version.version <= previous.version:
            raise AppError(
                error_codes.CONSENT_VERSION_INVALID,
                f"版本号必须大于当前生效的 v{previous.version}。",
                fields={"version": [str(version.version)]},
            )
        for other in agreement_versions_current():
            shared = set(other.purposes) & set(version.purposes)
            if other.agreement_id != agreement.pk and shared:
                raise AppError(
                    error_codes.CONSENT_VERSION_INVALID,
                    f"处理目的已由协议“{other.agreement}”约定：{'、'.join(sorted(shared))}；每个目的只能属于一个协议。",
                    fields={"purposes": sorted(shared)},
                )
        now = timezone.now()
        version.reconsent_purposes = reconsent_purposes_for(previous=previous, new=version)
        version.published_at = now
        version.effective_at = now
        version.published_by = actor
        version.save(update_fields=["reconsent_purposes", "published_at", "effective_at", "published_by", "updated_at"])
        if version.reconsent_purposes:
            flagged = ConsentState.objects.filter(
                version__agreement_id=agreement.pk,
                purpose__in=version.reconsent_purposes,
                granted=True,
                needs_reconsent=False,
            ).update(needs_reconsent=True, updated_at=now)
            if flagged:
                consent_revoked_notify_in_transaction(
                    ConsentRevoked(
                        member_ids=ConsentState.objects.filter(
                            version__agreement_id=agreement.pk,
                            purpose__in=version.reconsent_purposes,
                            granted=True,
                            needs_reconsent=True,
                        ).values_list("member_id", flat=True),
                        purposes=revoked_purposes(version.reconsent_purposes),
                        reason="reconsent_required",
                    )
                )
    return version


def membership_agreement_fill(
    *, brand_name: str, contact_address: str, pi_contact: str, actor: str
) -> AgreementVersion | None:
    """Give a brand its membership agreement from its own details (called by brand provisioning,
    inside the brand's schema and the provisioning transaction). Returns the version it published.

    - A complete version (no 【…】 blank) already in force: nothing to do, the brand's text stands.
    - Name, address and personal-information contact all known: the unfinished text (the draft
      the template left, else the version in force, else the template) is filled with them and
      published — into that draft, or as the next version. Not a material change: the brand only
      names itself, so consents to an earlier version carry over.
    - Otherwise, or if blanks other than the brand's details remain: nothing is published. A draft
      is left for the brand admin to complete and publish (created from the unfinished text if
      there is none); enrolment is refused until then.
    A draft without blanks is someone's own text waiting to be published: it is never touched.
    """
    with transaction.atomic():
        # Lock order as the other services: Agreement, then its versions.
        agreement, _ = Agreement.objects.select_for_update().get_or_create(
            code="membership", defaults={"kind": Agreement.Kind.MEMBERSHIP, "title": MEMBERSHIP_TITLE}
        )
        current = agreement_version_current(agreement_id=agreement.pk)
        if current is not None and not current.placeholders():
            return None
        draft = agreement.versions.select_for_update().filter(published_at__isnull=True).order_by("-version").first()
        if draft is not None and not draft.placeholders():
            return None
        unfinished = draft or current
        text = unfinished.text if unfinished is not None else MEMBERSHIP_TEMPLATE
        purposes = unfinished.purposes if unfinished is not None else [Purpose.MEMBERSHIP]
        if all(value.strip() for value in (brand_name, contact_address, pi_contact)):
            filled = membership_text_fill(
                text, brand_name=brand_name, contact_address=contact_address, pi_contact=pi_contact
            )
            if not placeholders_in(filled):
                version = agreement_version_draft_save(
                    agreement_id=agreement.pk,
                    text=filled,
                    purposes=purposes,
                    version_id=draft.pk if draft is not None else None,
                )
                return agreement_version_publish(version_id=version.pk, actor=actor)
        if draft is None:
            agreement_version_draft_save(agreement_id=agreement.pk, text=template_mark_drop(text), purposes=purposes)
        return None
