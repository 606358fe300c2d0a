"""Unlocking a login that axes locked out. In the current schema: a brand admin unlocks the
brand's own users, a platform operator the operators."""

import logging

from axes.utils import reset
from django.contrib.auth.models import User

from crm.db import connection
from crm.errors import AppError

from . import error_codes

logger = logging.getLogger(__name__)

# Who may unlock: whoever manages the back office's users (the brand admin role has it, store
# roles and HQ marketers do not; platform operators are superusers).
UNLOCK_PERMISSION = "auth.change_user"


def login_unlock(*, username: str, actor: User) -> int:
    """Forget the failed logins of `username` here, so it may log in at once. Returns how many
    records were removed (0: nothing was locked). Logged with who unlocked whom, and where."""
    if not actor.has_perm(UNLOCK_PERMISSION):
        raise AppError(error_codes.UNLOCK_FORBIDDEN, "只有品牌管理员可以解锁登录。", status=403)
    removed = reset(username=username)
    logger.warning(
        "login unlocked: username=%r by=%r schema=%s records=%d",
        username,
        actor.get_username(),
        connection.schema_name,
        removed,
    )
    return removed
