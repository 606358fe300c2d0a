"""Stable codes of the WeCom app's refusals (what the brand's people did wrong), with their text in
both languages. What WeCom itself answered is a WecomError (errors.py), not one of these."""

from crm.errors import ErrorText, error_texts_register

CONFIG_INVALID = "wecom_config_invalid"
NOT_CONFIGURED = "wecom_not_configured"
BAD_EVENT = "bad_event"  # a callback without a valid CreateTime
ASSIGNMENT_POLICY_INVALID = "assignment_policy_invalid"
CONTACT_WAY_INVALID = "contact_way_invalid"  # a channel QR code (渠道活码)
TRANSFER_INVALID = "transfer_invalid"

TEXTS: dict[str, ErrorText] = {
    CONFIG_INVALID: ErrorText("企业微信配置有误，请修改后重试。", "The WeCom settings are invalid."),
    NOT_CONFIGURED: ErrorText("本品牌尚未配置企业微信。", "WeCom is not set up for this brand."),
    BAD_EVENT: ErrorText("回调缺少有效的 CreateTime。", "The callback has no valid CreateTime."),
    ASSIGNMENT_POLICY_INVALID: ErrorText("未知的归属策略。", "Unknown assignment policy."),
    CONTACT_WAY_INVALID: ErrorText("渠道活码信息有误。", "The channel QR code is invalid."),
    TRANSFER_INVALID: ErrorText("转接信息有误。", "The transfer is invalid."),
}
error_texts_register(TEXTS)
