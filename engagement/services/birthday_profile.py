"""Who may set a member's birthday (DOMAIN "Birthday"): the member once, on their own (member
centre, mini-program); after that only store staff, with a reason, audited in BirthdayChange.
Both go through members.member_profile_update, which stamps `birthday_changed_at` — the birthday
job's guard (a birthday set or changed within N days before the release does not qualify).

Races: the member row is locked (members' step 1) before the check, and the partial unique
constraint "one self-service change per member" is the second line, so two taps set it once."""

import datetime as dt

from django.db import IntegrityError, transaction

from crm.errors import AppError
from engagement import error_codes
from engagement.models import BirthdayChange
from members.models import Member
from members.services.members import birthday_locked, member_profile_update
from members.services.points import member_lock


def birthday_set_by_member(*, member: Member, birthday: dt.date) -> Member:
    """The member sets their own birthday: once. Refused (birthday_locked, nothing written) when it
    is already set — then only the store can change it."""
    try:
        with transaction.atomic():
            locked = member_lock(member_id=member.pk)
            if locked.birthday is not None or BirthdayChange.objects.filter(member_id=member.pk).exists():
                raise _locked()
            BirthdayChange.objects.create(
                member_id=member.pk, by=BirthdayChange.By.MEMBER, actor="会员本人", before=None, after=birthday
            )
            return member_profile_update(member=locked, birthday=birthday, actor="会员本人")
    except IntegrityError as exc:  # a concurrent self-service set won
        raise _locked() from exc


def birthday_change_in_store(*, member: Member, birthday: dt.date | None, actor: str, reason: str) -> Member:
    """Store staff change (or clear) a member's birthday, with the reason; audited. Nothing is
    written for the same date."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError(error_codes.BIRTHDAY_LOCKED, "请填写修改生日的原因。", fields={"reason": ["必填。"]})
    with transaction.atomic():
        locked = member_lock(member_id=member.pk)
        if locked.birthday == birthday:
            return locked
        BirthdayChange.objects.create(
            member_id=member.pk,
            by=BirthdayChange.By.STAFF,
            actor=actor[:150],
            before=locked.birthday,
            after=birthday,
            reason=reason[:200],
        )
        return member_profile_update(member=locked, birthday=birthday, actor=actor, birthday_in_store=True)


def _locked() -> AppError:
    return birthday_locked()
