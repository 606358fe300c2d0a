"""Stable machine-readable error codes of one item, one code (一物一码). The API returns them as
`code` with the text in the caller's language; the admin and the scan page show the Chinese text.
Never rename a code: partners (mini-programs) match on it."""

from crm.errors import ErrorText, error_texts_register

BATCH_INVALID = "scancodes_batch_invalid"  # bad quantity, SKU, expiry
BATCH_EXPORT_EXHAUSTED = "scancodes_export_exhausted"  # the batch was exported as often as allowed
BATCH_STATE_INVALID = "scancodes_batch_state_invalid"  # e.g. exporting a revoked or imported batch
IMPORT_INVALID = "scancodes_import_invalid"  # the printer's file: format, duplicates, taken serials
SEGMENT_INVALID = "scancodes_segment_invalid"  # range outside the batch, overlapping another, bad dates
CAMPAIGN_INVALID = "scancodes_campaign_invalid"
REWARD_UNAVAILABLE = "scancodes_reward_unavailable"  # growth value / coupons: their apps are not installed
CODE_UNKNOWN = "scancodes_code_unknown"  # no such serial in this brand
SECRET_INVALID = "scancodes_secret_invalid"  # noqa: S105 (an error code, not a password); the claim code does not match the serial
RATE_LIMITED = "scancodes_rate_limited"  # too many wrong claim codes from this network or for this serial
CODE_NOT_ACTIVE = "scancodes_code_not_active"  # not activated yet (or scheduled later): grants nothing
CODE_REVOKED = "scancodes_code_revoked"
CODE_EXPIRED = "scancodes_code_expired"
ALREADY_CLAIMED = "scancodes_already_claimed"  # another member claimed this code first
CAMPAIGN_CLOSED = "scancodes_campaign_closed"  # outside the campaign's validity
CAP_REACHED = "scancodes_cap_reached"  # the member's daily or monthly cap
BUDGET_EXHAUSTED = "scancodes_budget_exhausted"
MEMBER_NOT_ELIGIBLE = "scancodes_member_not_eligible"  # frozen, erased or merged member
CLAIM_STATE_INVALID = "scancodes_claim_state_invalid"  # approving a void claim, voiding twice
DEALER_INVALID = "scancodes_dealer_invalid"
CONSENT_REQUIRED = "scancodes_consent_required"  # the scan page's membership box left unticked

TEXTS: dict[str, ErrorText] = {
    BATCH_INVALID: ErrorText("码批次参数有误。", "The code batch has invalid fields."),
    BATCH_EXPORT_EXHAUSTED: ErrorText(
        "该批次的导出次数已用完，不能再导出。", "This batch has been exported as many times as allowed."
    ),
    BATCH_STATE_INVALID: ErrorText("该批次当前状态不允许此操作。", "The batch's state does not allow this."),
    IMPORT_INVALID: ErrorText("印刷厂码文件有误。", "The printer's code file is invalid."),
    SEGMENT_INVALID: ErrorText("码段参数有误。", "The code segment has invalid fields."),
    CAMPAIGN_INVALID: ErrorText("扫码活动参数有误。", "The scan campaign has invalid fields."),
    REWARD_UNAVAILABLE: ErrorText(
        "该奖励类型（成长值/优惠券）尚未开通，暂不能发放。",
        "This reward kind (growth value / coupon) is not available yet.",
    ),
    CODE_UNKNOWN: ErrorText("未找到该防伪码，请核对后重试。", "No such code."),
    SECRET_INVALID: ErrorText("验证码不正确，请核对刮开的验证码。", "The claim code does not match."),
    RATE_LIMITED: ErrorText(
        "验证码错误次数过多，请 {retry_after} 秒后再试。", "Too many wrong claim codes; retry in {retry_after} s."
    ),
    CODE_NOT_ACTIVE: ErrorText("该码尚未激活，暂不能领取奖励。", "This code is not activated yet and grants nothing."),
    CODE_REVOKED: ErrorText("该码已作废，不能领取奖励。", "This code has been revoked and grants nothing."),
    CODE_EXPIRED: ErrorText("该码已过期，不能领取奖励。", "This code has expired and grants nothing."),
    ALREADY_CLAIMED: ErrorText(
        "该码已被领取，每个码只能领取一次。", "This code has already been claimed; each code is claimed once."
    ),
    CAMPAIGN_CLOSED: ErrorText("扫码活动不在有效期内。", "The scan campaign is not running."),
    CAP_REACHED: ErrorText(
        "已达到扫码领奖上限（{period}），请改日再来。", "You have reached the scan reward cap ({period})."
    ),
    BUDGET_EXHAUSTED: ErrorText("本次活动奖励已发完。", "The campaign's reward budget is used up."),
    MEMBER_NOT_ELIGIBLE: ErrorText("该会员当前不能领取奖励。", "This member cannot receive rewards now."),
    CLAIM_STATE_INVALID: ErrorText("该领取记录当前状态不允许此操作。", "The claim's state does not allow this."),
    DEALER_INVALID: ErrorText("经销商参数有误。", "The dealer has invalid fields."),
    CONSENT_REQUIRED: ErrorText(
        "请阅读并勾选同意《会员协议与隐私政策》后再领取。", "Agree to the membership terms to claim."
    ),
}
error_texts_register(TEXTS)
