"""What WeCom announces to the apps above it, without importing them (staff performance records
a touch when a customer adds a staff member through a channel QR code).

Handlers run inside the callback's transaction: quick, no network, an exception rolls it back.
"""

import datetime as dt
from dataclasses import dataclass

from crm.hooks import Hook


@dataclass(frozen=True)
class CustomerAdded:
    """A customer linked to `member_id` added the staff member `staff_userid` on WeCom, through
    the channel QR code `state` (empty when added another way)."""

    member_id: int
    external_userid: str
    staff_userid: str
    state: str
    added_at: dt.datetime


customer_added: Hook[CustomerAdded, None] = Hook("WeCom customer added")
on_customer_added = customer_added.connect


def customer_added_notify_in_transaction(event: CustomerAdded) -> None:
    customer_added.tell(event)
