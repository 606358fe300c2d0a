"""What WeCom announces to the apps above it, without importing them (staff performance records
a touch when a customer adds a staff member through a channel QR code).

Handlers run inside the callback's transaction: quick, no network, an exception rolls it back.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CustomerAdded:
    """A customer linked to `member_id` added the staff member `staff_userid` on WeCom, through
    the channel QR code `state` (empty when added another way)."""

    member_id: int
    external_userid: str
    staff_userid: str
    state: str
    added_at: dt.datetime


_customer_added: list[Callable[[CustomerAdded], None]] = []


def on_customer_added(handler: Callable[[CustomerAdded], None]) -> Callable[[CustomerAdded], None]:
    if handler not in _customer_added:
        _customer_added.append(handler)
    return handler


def customer_added_notify_in_transaction(event: CustomerAdded) -> None:
    for handler in _customer_added:
        handler(event)
