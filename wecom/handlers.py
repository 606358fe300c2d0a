"""What each callback ChangeType does to the follow relations. Called by
`services.callback_event_process` inside its transaction, with the event row locked.

Every handler is idempotent (upsert on the unique (external_userid, staff_userid) pair) and
order-safe: an event older than the newest one applied to the relation changes nothing, because
WeCom may deliver a late retry of an `add` after the `del` that followed it.

Each handler returns a `FollowChange`. That value is the seam for the members app: linking the
contact to a member by unionid (or recording a prospect), storing `state` as the member's source
and applying the brand's assignment policy plug in as one explicit call on the change in
`services.callback_event_process`, in the same transaction, rather than as a signal.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .models import CallbackEvent, ChangeType, FollowRelation

TRANSFER_SOURCE = "DELETE_BY_TRANSFER"


@dataclass(frozen=True)
class FollowChange:
    """The outcome of one event, for whatever acts on it next (member linking, assignment)."""

    kind: str  # "added" | "edited" | "deleted" | "transfer_failed"
    event: CallbackEvent
    external_userid: str
    staff_userid: str
    relation: FollowRelation | None
    # False when the event was older than what the relation already reflects (nothing changed).
    applied: bool = True
    unionid: str = ""
    state: str = ""
    deleted_by: str = ""
    fail_reason: str = ""


@dataclass(frozen=True)
class Handler:
    apply: Callable[..., FollowChange]
    # Whether the service should fetch `externalcontact/get` first (outside the transaction): the
    # add/edit callbacks carry no unionid, remark or add_way.
    needs_contact: bool


def _relation_locked(event: CallbackEvent) -> tuple[FollowRelation, bool]:
    return FollowRelation.objects.select_for_update().get_or_create(
        external_userid=event.external_user_id, staff_userid=event.user_id
    )


def _is_stale(relation: FollowRelation, event: CallbackEvent) -> bool:
    return relation.last_event_time is not None and event.event_time < relation.last_event_time


def _follow_entry(contact: dict[str, Any] | None, staff_userid: str) -> dict[str, Any]:
    for entry in (contact or {}).get("follow_user") or []:
        if entry.get("userid") == staff_userid:
            return dict(entry)
    return {}


def follow_added(*, event: CallbackEvent, contact: dict[str, Any] | None) -> FollowChange:
    relation, _created = _relation_locked(event)
    if _is_stale(relation, event):
        return FollowChange("added", event, event.external_user_id, event.user_id, relation, applied=False)
    entry = _follow_entry(contact, event.user_id)
    external = (contact or {}).get("external_contact") or {}
    relation.unionid = external.get("unionid") or relation.unionid
    relation.name = (external.get("name") or relation.name)[:128]
    # The callback's State is authoritative for this add; the API's copy is the fallback.
    relation.state = event.state or entry.get("state") or relation.state
    relation.remark = (entry.get("remark") or relation.remark)[:128]
    relation.add_way = entry.get("add_way", relation.add_way)
    createtime = entry.get("createtime")
    relation.added_at = datetime.fromtimestamp(int(createtime), tz=UTC) if createtime else event.event_time
    relation.deleted_at = None
    relation.deleted_by = ""
    relation.last_event_time = event.event_time
    if contact:
        relation.raw = {"external_contact": external, "follow_user": entry}
    relation.save()
    return FollowChange(
        "added", event, event.external_user_id, event.user_id, relation, unionid=relation.unionid, state=relation.state
    )


def follow_edited(*, event: CallbackEvent, contact: dict[str, Any] | None) -> FollowChange:
    relation, _created = _relation_locked(event)
    if _is_stale(relation, event):
        return FollowChange("edited", event, event.external_user_id, event.user_id, relation, applied=False)
    entry = _follow_entry(contact, event.user_id)
    external = (contact or {}).get("external_contact") or {}
    if entry:
        relation.remark = (entry.get("remark") or "")[:128]
        relation.add_way = entry.get("add_way", relation.add_way)
        relation.state = relation.state or entry.get("state") or ""
        relation.raw = {"external_contact": external, "follow_user": entry}
    relation.unionid = external.get("unionid") or relation.unionid
    relation.name = (external.get("name") or relation.name)[:128]
    relation.last_event_time = event.event_time
    relation.save()
    return FollowChange(
        "edited", event, event.external_user_id, event.user_id, relation, unionid=relation.unionid, state=relation.state
    )


def _follow_deleted(event: CallbackEvent, deleted_by: str) -> FollowChange:
    relation, _created = _relation_locked(event)
    if _is_stale(relation, event):
        return FollowChange("deleted", event, event.external_user_id, event.user_id, relation, applied=False)
    relation.deleted_at = event.event_time
    relation.deleted_by = deleted_by
    relation.last_event_time = event.event_time
    relation.save(update_fields=["deleted_at", "deleted_by", "last_event_time", "updated_at"])
    return FollowChange(
        "deleted",
        event,
        event.external_user_id,
        event.user_id,
        relation,
        unionid=relation.unionid,
        state=relation.state,
        deleted_by=deleted_by,
    )


def follow_deleted_by_staff(*, event: CallbackEvent, contact: dict[str, Any] | None) -> FollowChange:
    # A transfer removes the handover's relation with Source=DELETE_BY_TRANSFER: not a lost
    # customer, and the assignment part must not treat it as one.
    by = FollowRelation.DeletedBy.TRANSFER if event.source == TRANSFER_SOURCE else FollowRelation.DeletedBy.STAFF
    return _follow_deleted(event, by)


def follow_deleted_by_customer(*, event: CallbackEvent, contact: dict[str, Any] | None) -> FollowChange:
    return _follow_deleted(event, FollowRelation.DeletedBy.CUSTOMER)


def transfer_failed(*, event: CallbackEvent, contact: dict[str, Any] | None) -> FollowChange:
    """`UserID` is the takeover; the customer stays with the handover, so no relation changes.
    The transfer tracking (assignment part) records the failure from the returned change."""
    return FollowChange(
        "transfer_failed", event, event.external_user_id, event.user_id, None, fail_reason=event.fail_reason
    )


HANDLERS: dict[str, Handler] = {
    ChangeType.ADD_EXTERNAL_CONTACT: Handler(follow_added, needs_contact=True),
    # Added without the staff member's verification: for the brand it is a relation all the same.
    ChangeType.ADD_HALF_EXTERNAL_CONTACT: Handler(follow_added, needs_contact=True),
    ChangeType.EDIT_EXTERNAL_CONTACT: Handler(follow_edited, needs_contact=True),
    ChangeType.DEL_EXTERNAL_CONTACT: Handler(follow_deleted_by_staff, needs_contact=False),
    ChangeType.DEL_FOLLOW_USER: Handler(follow_deleted_by_customer, needs_contact=False),
    ChangeType.TRANSFER_FAIL: Handler(transfer_failed, needs_contact=False),
}
