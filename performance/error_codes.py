"""Stable codes of staff performance errors, with their Chinese and English text."""

RULE_INVALID = "performance_rule_invalid"
TOUCH_INVALID = "performance_touch_invalid"
REPORT_INVALID = "performance_report_invalid"
STAFF_IDENTITY_TAKEN = "performance_staff_identity_taken"
SHARE_INVALID = "performance_share_invalid"

MESSAGES: dict[str, dict[str, str]] = {
    RULE_INVALID: {"zh-hans": "业绩归属规则有误。", "en": "The attribution rule is invalid."},
    TOUCH_INVALID: {"zh-hans": "触达记录有误。", "en": "The touch is invalid."},
    SHARE_INVALID: {"zh-hans": "分享链接有误。", "en": "The share link is invalid."},
    REPORT_INVALID: {"zh-hans": "报表条件有误。", "en": "The report parameters are invalid."},
    STAFF_IDENTITY_TAKEN: {
        "zh-hans": "该手机号或 UnionID 已登记为另一位导购本人。",
        "en": "This mobile or unionid is already registered to another staff member.",
    },
}
