"""Stable codes of staff performance errors, with their Chinese and English text."""

from crm.errors import ErrorText, error_texts_register

RULE_INVALID = "performance_rule_invalid"
TOUCH_INVALID = "performance_touch_invalid"
REPORT_INVALID = "performance_report_invalid"
STAFF_IDENTITY_TAKEN = "performance_staff_identity_taken"
SHARE_INVALID = "performance_share_invalid"

TEXTS: dict[str, ErrorText] = {
    RULE_INVALID: ErrorText("业绩归属规则有误。", "The attribution rule is invalid."),
    TOUCH_INVALID: ErrorText("触达记录有误。", "The touch is invalid."),
    SHARE_INVALID: ErrorText("分享链接有误。", "The share link is invalid."),
    REPORT_INVALID: ErrorText("报表条件有误。", "The report parameters are invalid."),
    STAFF_IDENTITY_TAKEN: ErrorText(
        "该手机号或 UnionID 已登记为另一位导购本人。",
        "This mobile or unionid is already registered to another staff member.",
    ),
}
error_texts_register(TEXTS)
