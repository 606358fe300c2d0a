"""Stable codes of login protection, with their text in both languages."""

from crm.errors import ErrorText, error_texts_register

UNLOCK_FORBIDDEN = "login_unlock_forbidden"

TEXTS: dict[str, ErrorText] = {
    UNLOCK_FORBIDDEN: ErrorText("只有品牌管理员可以解锁登录。", "Only a brand admin may unlock a login."),
}
error_texts_register(TEXTS)
