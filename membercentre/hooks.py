"""What the member centre announces to the apps above it, without importing them (staff
performance turns a staff member's share link, opened before the member signed in or enrolled,
into a touch once it knows who the member is).

Handlers run in the sign-in's request: quick, no network; an exception fails the sign-in.
"""

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MemberSignedIn:
    """A member signed in on the member centre (an existing member, or one who just enrolled).
    `session` is the browser session, where a page opened before the sign-in may have left a note."""

    member_id: int
    session: MutableMapping[str, Any]


_signed_in: list[Callable[[MemberSignedIn], None]] = []


def on_member_signed_in(handler: Callable[[MemberSignedIn], None]) -> Callable[[MemberSignedIn], None]:
    if handler not in _signed_in:
        _signed_in.append(handler)
    return handler


def member_signed_in_notify(event: MemberSignedIn) -> None:
    for handler in _signed_in:
        handler(event)
