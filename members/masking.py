"""What staff see of a member's personal information (PIPL art. 51: least access).

A viewer with `members.view_full_pi` sees the full mobile, name and birthday; everyone else sees
them masked: ``138****1234``, ``张*``, ``**-05-12`` (month and day stay visible: store staff plan
birthday gifts with them, the year makes the person identifiable).
"""

import datetime as dt
from typing import Any

from .phones import mobile_mask, mobile_national

VIEW_FULL_PI = "members.view_full_pi"


def can_view_full_pi(user: Any) -> bool:
    # has_perm caches the user's permissions on the user object: one query per request, not per row.
    return bool(user is not None and user.is_active and user.has_perm(VIEW_FULL_PI))


def name_mask(name: str) -> str:
    if not name:
        return ""
    return name[0] + "*" * max(len(name) - 1, 1)


def birthday_mask(birthday: dt.date | None) -> str:
    return f"**-{birthday:%m-%d}" if birthday else ""


def mobile_shown(e164: str, *, full: bool) -> str:
    return mobile_national(e164) if full else mobile_mask(e164)


def name_shown(name: str, *, full: bool) -> str:
    return name if full else name_mask(name)


def birthday_shown(birthday: dt.date | None, *, full: bool) -> str:
    if full:
        return birthday.isoformat() if birthday else ""
    return birthday_mask(birthday)


def member_label(member_no: str, name: str, *, full: bool) -> str:
    """How a member is named on a page: member number and the name as the viewer may see it."""
    return f"{member_no} {name_shown(name, full=full)}".strip()


def identity_shown(kind: str, value: str, *, full: bool) -> str:
    """An identity's value: a mobile is personal information and masked; the platform IDs
    (OpenID, OUID, ...) are opaque and shown as they are."""
    return mobile_shown(value, full=full) if kind == "mobile" else value
