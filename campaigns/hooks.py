"""What campaigns announce to the apps above them, without importing them (staff performance
records a touch when a member's staff member sent them a WeCom group message).

Handlers run inside the change's transaction: quick, no network; an exception rolls it back.
"""

from dataclasses import dataclass
from typing import Any

from crm.hooks import Hook


@dataclass(frozen=True)
class GroupMessagesDelivered:
    """WeCom reported that a member's staff member sent them a campaign's group message: `rows` is
    (sql, params) selecting the ids of the outbox messages that became delivered (each has its
    member, staff and delivered_at)."""

    rows: tuple[str, tuple[Any, ...]]


group_messages_delivered: Hook[GroupMessagesDelivered, None] = Hook("WeCom group messages delivered")
on_group_messages_delivered = group_messages_delivered.connect


def group_messages_delivered_notify_in_transaction(event: GroupMessagesDelivered) -> None:
    group_messages_delivered.tell(event)
