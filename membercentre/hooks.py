"""What the member centre announces to the apps above it, without importing them (staff
performance turns a staff member's share link, opened before the member signed in or enrolled,
into a touch once it knows who the member is).

Handlers run in the sign-in's request: quick, no network; an exception fails the sign-in.
"""

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from crm.hooks import Hook


@dataclass(frozen=True)
class MemberSignedIn:
    """A member signed in on the member centre (an existing member, or one who just enrolled).
    `session` is the browser session, where a page opened before the sign-in may have left a note."""

    member_id: int
    session: MutableMapping[str, Any]


member_signed_in: Hook[MemberSignedIn, None] = Hook("member signed in")
on_member_signed_in = member_signed_in.connect


def member_signed_in_notify(event: MemberSignedIn) -> None:
    member_signed_in.tell(event)
