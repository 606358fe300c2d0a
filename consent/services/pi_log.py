"""The personal-information access log (PIPL art. 51: processors control and audit who accesses
personal information). Every full view of a member's mobile, name or birthday — in the admin, an
export, an API response to staff — is one row here. Append-only in the database."""

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from crm.errors import AppError
from members.models import Member

from .. import error_codes
from ..models import PIAccessLog, PIField


def pi_access_log(
    *,
    user: AbstractBaseUser | AnonymousUser,
    member: Member | int,
    fields: Iterable[str],
    context: str,
    ip: str | None = None,
) -> PIAccessLog:
    """Record that `user` saw `fields` of `member` in full, and where (`context`, e.g.
    "admin:member_change", "export:campaign_audience:42"). Call it before rendering the values:
    if logging fails, the values must not be shown."""
    member_id = member.pk if isinstance(member, Member) else member
    (row,) = pi_access_log_many(user=user, member_ids=[member_id], fields=fields, context=context, ip=ip)
    return row


def pi_access_log_many(
    *,
    user: AbstractBaseUser | AnonymousUser,
    member_ids: Iterable[int],
    fields: Iterable[str],
    context: str,
    ip: str | None = None,
) -> list[PIAccessLog]:
    """`pi_access_log` for one view of many members at once (an export): one row per member, as
    the log is read per member ("who saw this person's data"), written by bulk INSERTs of 5,000 rows."""
    fields = sorted(set(fields))
    if not fields or any(field not in PIField.values for field in fields):
        raise AppError(
            error_codes.PI_ACCESS_INVALID,
            f"查看字段无效：{fields}；可选 {', '.join(PIField.values)}。",
            fields={"fields": list(fields)},
        )
    if not context.strip():
        raise AppError(error_codes.PI_ACCESS_INVALID, "请说明查看场景。", fields={"context": ["required"]})
    if not getattr(user, "is_authenticated", False):
        raise AppError(error_codes.PI_ACCESS_INVALID, "未登录用户不能查看个人信息。", status=403)
    return PIAccessLog.objects.bulk_create(
        [
            PIAccessLog(
                user_id=user.pk,
                username=user.get_username(),
                member_id=member_id,
                fields=fields,
                context=context.strip()[:200],
                ip=ip or None,
            )
            for member_id in dict.fromkeys(member_ids)
        ],
        batch_size=5000,
    )
