"""Channel QR codes (`add_contact_way`) and brand tags ↔ WeCom corp tags.

QR codes: the `state` (≤30 characters, WeCom's limit) comes back in the add callback and becomes
the member's source (wecom/assignment.py). Tags: a brand tag maps to a corp tag in the
group named like the tag's group; marking a member's tag marks it on the customer *for their
owner* (`mark_tag` only works for a staff member the customer follows), in a task after commit.
"""

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save

from crm.api import remembered_keys
from crm.api.remembered_keys import api_generation_renew, request_generation
from crm.db import connection
from crm.errors import AppError
from crm.memos import process_memo
from members.models import Identity, IdentityKind, Member, Staff, Store, Tag
from members.services.members import tag_wecom_id_set

from . import error_codes
from .client import WecomClient
from .errors import InvalidExternalUserid, NoRelationship, WecomApiError
from .models import ContactWay, FollowRelation, WecomConfig
from .tasks import member_tags_mark_task

logger = logging.getLogger(__name__)

STATE_MAX = 30
DEFAULT_TAG_GROUP = "会员标签"
_STATE_RE = re.compile(r"^[A-Za-z0-9_\-.]+$")


def _config_required() -> WecomConfig:
    config = WecomConfig.objects.first()
    if config is None:
        raise AppError(error_codes.NOT_CONFIGURED, "本品牌尚未配置企业微信。", status=404)
    return config


# --- channel QR codes ------------------------------------------------------------------------------


def contact_way_errors(*, name: str, state: str, staff: Sequence[Staff], campaign: str = "") -> dict[str, list[str]]:
    """Field errors of a QR code request (empty: valid). The admin form shows them per field."""
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 100:
        errors["name"] = ["名称不能为空（≤100 字）。"]
    if not state or len(state) > STATE_MAX or not _STATE_RE.match(state):
        errors["state"] = [f"State 须为 1–{STATE_MAX} 位英文字母、数字或 _ - .（企业微信的限制）。"]
    elif ContactWay.objects.filter(state=state).exists():
        errors["state"] = [f"State “{state}”已被其他活码使用，来源将无法区分。"]
    if not staff:
        errors["staff"] = ["至少选择一位导购。"]
    for member in staff:
        if member.status != Staff.Status.ACTIVE or not member.wecom_userid:
            errors.setdefault("staff", []).append(f"导购“{member}”已离职或没有企业微信账号。")
    if len(campaign) > 100:
        errors["campaign"] = ["活动名称不能超过 100 字。"]
    return errors


def contact_way_create(
    *,
    name: str,
    state: str,
    staff: Sequence[Staff],
    actor: str,
    store: Store | None = None,
    campaign: str = "",
    skip_verify: bool = True,
) -> ContactWay:
    """Create a channel QR code in WeCom and record it. Input is checked before WeCom is called,
    so a refused request creates nothing on either side."""
    name, state, campaign = (name or "").strip(), (state or "").strip(), (campaign or "").strip()
    users = list(staff)
    errors = contact_way_errors(name=name, state=state, staff=users, campaign=campaign)
    if errors:
        raise AppError(error_codes.CONTACT_WAY_INVALID, "渠道活码信息有误。", fields=errors)
    config = _config_required()
    way_type = ContactWay.Type.SINGLE if len(users) == 1 else ContactWay.Type.MULTI
    with WecomClient.for_config(config) as client:
        created = client.add_contact_way(
            state=state, users=[s.wecom_userid for s in users], type=way_type, skip_verify=skip_verify
        )
    try:
        with transaction.atomic():
            way = ContactWay.objects.create(
                name=name,
                state=state,
                store=store,
                campaign=campaign,
                type=way_type,
                skip_verify=skip_verify,
                config_id=created["config_id"],
                qr_code=created["qr_code"],
                created_by=actor,
            )
            way.staff.set(users)
    except IntegrityError as exc:
        # Another admin took the same state between the check and now; the QR code WeCom just
        # made is unused (config_id logged for cleanup).
        logger.warning("contact way %s created in WeCom but not recorded: %s", created["config_id"], exc)
        message = f"State “{state}”已被其他活码使用。"
        raise AppError(error_codes.CONTACT_WAY_INVALID, message, fields={"state": ["taken"]}) from exc
    return way


# --- tags ----------------------------------------------------------------------------------------


def _group_of(tag: Tag) -> str:
    return (tag.group or DEFAULT_TAG_GROUP)[:30]


def tags_sync_to_wecom(*, tags: Iterable[Tag] | None = None) -> dict[str, int]:
    """Give every brand tag (or `tags`) its WeCom corp tag: an existing one with the same group
    and name is adopted, a missing one is created (one call per group). Stored ids that WeCom no
    longer knows (deleted in WeCom) are replaced. Idempotent."""
    config = _config_required()
    selected = list(Tag.objects.all() if tags is None else Tag.objects.filter(pk__in=[t.pk for t in tags]))
    linked = created = 0
    with WecomClient.for_config(config) as client:
        corp = _corp_tags(client)
        known_ids = set(corp.values())
        missing: dict[str, list[Tag]] = defaultdict(list)
        for tag in selected:
            if tag.wecom_tag_id and tag.wecom_tag_id in known_ids:
                continue
            existing = corp.get((_group_of(tag), tag.name))
            if existing:
                linked += tag_wecom_id_set(tag=tag, wecom_tag_id=existing)
            else:
                missing[_group_of(tag)].append(tag)
        for group_name, group_tags in missing.items():
            try:
                made = client.add_corp_tag(group_name=group_name, tags=[{"name": t.name} for t in group_tags])
                ids = {item["name"]: item["id"] for item in made.get("tag") or []}
            except WecomApiError as exc:
                if exc.errcode != 40071:  # 40071: the name exists (another sync was first)
                    raise
                corp = _corp_tags(client)
                ids = {t.name: corp[(group_name, t.name)] for t in group_tags if (group_name, t.name) in corp}
            for tag in group_tags:
                if tag.name in ids:
                    created += tag_wecom_id_set(tag=tag, wecom_tag_id=ids[tag.name])
    return {"tags": len(selected), "linked": linked, "created": created}


def _corp_tags(client: WecomClient) -> dict[tuple[str, str], str]:
    return {
        (group["group_name"], item["name"]): item["id"]
        for group in client.get_corp_tag_list()
        for item in group.get("tag") or []
    }


def member_tags_wecom_sync(*, member_ids: Iterable[int], tag: Tag, added: bool = True) -> None:
    """Mirror a brand tagging in WeCom, after commit. Call it right after
    `member_tag` / `members_tag` (added=True) or `member_untag` / `members_untag` (added=False),
    in the same transaction if there is one. Does nothing for a brand without WeCom."""
    from crm.celery import send_on_commit

    ids = sorted(set(member_ids))
    if ids and wecom_configured():
        send_on_commit(member_tags_mark_task, ids, tag.pk, added)


# (database, schema) -> (monotonic expiry, generation token it was read under, configured)
_configured_remembered: dict[tuple[str, str], tuple[float, bytes | None, bool]] = process_memo(
    "WeCom configured per brand"
)


def wecom_configured() -> bool:
    """Whether the current brand has WeCom configured: one query, or none in a partner API
    request after the first of the process under the brand's current generation (a scan claim
    tags its member with up to four tags, each told to the tags hook: the question was asked four
    times a claim). Saving or deleting the configuration renews the generation, as webhooks do."""
    in_request, generation = request_generation()
    brand = (connection.settings_dict["NAME"], connection.schema_name)
    remembered = _configured_remembered.get(brand) if in_request else None
    if remembered is not None and remembered[0] > time.monotonic() and remembered[1] == generation:
        return remembered[2]
    configured = WecomConfig.objects.exists()
    if in_request:  # read after the request read its generation: safe to remember under it
        _configured_remembered[brand] = (time.monotonic() + remembered_keys.REMEMBER_SECONDS, generation, configured)
    return configured


def wecom_config_changed(**_: Any) -> None:
    _configured_remembered.clear()
    api_generation_renew()


post_save.connect(wecom_config_changed, sender=WecomConfig, dispatch_uid="wecom_config_saved")
post_delete.connect(wecom_config_changed, sender=WecomConfig, dispatch_uid="wecom_config_deleted")


def member_tags_mark(*, member_ids: list[int], tag_id: int, added: bool) -> dict[str, int]:
    """Mark (or unmark) the tag on each member's WeCom contact for their owner. Members without
    an owner, or whose owner has no relation with them, are skipped: WeCom only tags a customer
    for a staff member they follow (84061 otherwise)."""
    config = _config_required()
    tag = Tag.objects.get(pk=tag_id)
    if not tag.wecom_tag_id:
        tags_sync_to_wecom(tags=[tag])
        tag.refresh_from_db()
    members = Member.objects.filter(pk__in=member_ids, assigned_staff__isnull=False).select_related("assigned_staff")
    owner_of = {m.pk: m.assigned_staff.wecom_userid for m in members if m.assigned_staff.wecom_userid}  # type: ignore[union-attr]
    exts: dict[int, list[str]] = defaultdict(list)
    for member_id, value in Identity.objects.filter(
        member_id__in=list(owner_of), kind=IdentityKind.WECOM_EXTERNAL_USERID
    ).values_list("member_id", "value"):
        exts[member_id].append(value)
    following = set(
        FollowRelation.objects.filter(
            external_userid__in=[e for values in exts.values() for e in values], deleted_at__isnull=True
        ).values_list("external_userid", "staff_userid")
    )
    marked = skipped = 0
    with WecomClient.for_config(config) as client:
        for member_id in member_ids:
            userid = owner_of.get(member_id)
            targets = [ext for ext in exts.get(member_id, []) if (ext, userid) in following]
            if not targets:
                skipped += 1
                continue
            for ext in targets:
                try:
                    client.mark_tag(
                        userid=userid,  # type: ignore[arg-type]
                        external_userid=ext,
                        add_tag=[tag.wecom_tag_id] if added else [],
                        remove_tag=[] if added else [tag.wecom_tag_id],
                    )
                except (NoRelationship, InvalidExternalUserid):
                    skipped += 1  # the relation ended after our last callback
                    continue
                marked += 1
    return {"marked": marked, "skipped": skipped}
