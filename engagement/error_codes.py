"""Stable machine-readable error codes of the engagement app, with their text in both languages the
API speaks (registered in crm.errors.ERROR_TEXTS). Never rename a code."""

from crm.errors import ErrorText, error_texts_register
from members import error_codes as members_error_codes

CHECKIN_DISABLED = "checkin_disabled"  # the brand has switched check-in off
MAKEUP_REFUSED = "checkin_makeup_refused"  # outside the window, another cycle, today or the future
MAKEUP_CAP_REACHED = "checkin_makeup_cap_reached"  # this cycle's make-ups are used up
MEMBER_NOT_ELIGIBLE = "engagement_member_not_eligible"  # frozen, erased or merged
COUPON_UNAVAILABLE = "engagement_coupon_unavailable"  # a coupon reward before a coupon issuer exists
SETTINGS_INVALID = "engagement_settings_invalid"
CALENDAR_INVALID = "checkin_calendar_invalid"  # a month that is not YYYY-MM
REFERRAL_REFUSED = "referral_refused"  # an invitation that cannot be recorded (unknown referrer, too late)
# The member set their birthday once; changes go through the store (raised by members' profile update).
BIRTHDAY_LOCKED = members_error_codes.BIRTHDAY_LOCKED

TEXTS: dict[str, ErrorText] = {
    CHECKIN_DISABLED: ErrorText("本品牌未开启签到。", "Check-in is switched off for this brand."),
    MAKEUP_REFUSED: ErrorText("这一天不能补签。", "That day cannot be made up."),
    MAKEUP_CAP_REACHED: ErrorText("本周期的补签次数已用完。", "This cycle's make-up days are used up."),
    MEMBER_NOT_ELIGIBLE: ErrorText(
        "该会员已冻结、删除或合并，不能参加活动。", "The member is frozen, erased or merged and cannot take part."
    ),
    COUPON_UNAVAILABLE: ErrorText(
        "优惠券功能尚未启用，请改用积分或成长值奖励。",
        "Coupons are not available yet; use a points or growth-value reward.",
    ),
    SETTINGS_INVALID: ErrorText("互动规则设置有误。", "The engagement settings are invalid."),
    CALENDAR_INVALID: ErrorText("月份格式应为 YYYY-MM。", "The month must be YYYY-MM."),
    REFERRAL_REFUSED: ErrorText("无法登记邀请关系。", "The referral cannot be recorded."),
}
error_texts_register(TEXTS)
