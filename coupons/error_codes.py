"""Stable machine-readable codes of the coupons app, with their text in Chinese and English (the
partner API speaks both; the admin shows the Chinese). Never rename a code: partners match on it.

A code that says why a coupon cannot be used is also a *reason* (validate lists them, the member
centre and the workbench show them)."""

from typing import Any

from crm.errors import AppError, ErrorText, error_texts_register, localized

TEMPLATE_INVALID = "coupon_template_invalid"
TEMPLATE_LOCKED = "coupon_template_locked"  # issued already: only stock up, later end, deactivate
TEMPLATE_INACTIVE = "coupon_template_inactive"
OUT_OF_STOCK = "coupon_out_of_stock"
CODES_EXHAUSTED = "coupon_codes_exhausted"
OVER_MEMBER_LIMIT = "coupon_over_member_limit"
ISSUE_INVALID = "coupon_issue_invalid"
ISSUE_CONFLICT = "coupon_issue_conflict"
NOT_EXCHANGEABLE = "coupon_not_exchangeable"
MEMBER_NOT_ELIGIBLE = "coupon_member_not_eligible"
CODE_IMPORT_INVALID = "coupon_code_import_invalid"
# Why a coupon cannot be used (reasons).
NOT_FOUND = "coupon_not_found"
MEMBER_MISMATCH = "coupon_member_mismatch"
USED = "coupon_used"
EXPIRED = "coupon_expired"
VOIDED = "coupon_voided"
LOCKED = "coupon_locked"
NOT_YET_VALID = "coupon_not_yet_valid"
WRONG_DAY = "coupon_wrong_day"
WRONG_TIME = "coupon_wrong_time"
BELOW_THRESHOLD = "coupon_below_threshold"
WRONG_STORE = "coupon_wrong_store"
STORE_UNKNOWN = "coupon_store_unknown"
REDEEM_INVALID = "coupon_redeem_invalid"
REQUEST_CONFLICT = "coupon_request_conflict"  # a request number reused for another write-off
REDEMPTION_NOT_FOUND = "coupon_redemption_not_found"
REDEMPTION_NOT_LIVE = "coupon_redemption_not_live"
# Manual issuing's limits and approvals (coupons/manual_issue.py).
ISSUE_FORBIDDEN = "coupon_issue_forbidden"  # the user's role may not issue by hand
ISSUE_APPROVAL_FORBIDDEN = "coupon_issue_approval_forbidden"  # not a brand admin, or one's own request
ISSUE_REQUEST_DECIDED = "coupon_issue_request_decided"  # approve a rejected one / reject an approved one

TEXTS: dict[str, ErrorText] = {
    TEMPLATE_INVALID: ErrorText("优惠券模板设置有误。", "The coupon template is invalid."),
    TEMPLATE_LOCKED: ErrorText(
        "该券已发放，只能增加库存、延后结束日期或停止发放。",
        "The coupon has been issued: only more stock, a later end date or deactivation are allowed.",
    ),
    TEMPLATE_INACTIVE: ErrorText("该券已停止发放。", "The coupon is no longer issued."),
    OUT_OF_STOCK: ErrorText("该券库存不足。", "The coupon is out of stock."),
    CODES_EXHAUSTED: ErrorText("券码已用完，未发放。", "The code pool is exhausted; nothing was issued."),
    OVER_MEMBER_LIMIT: ErrorText("已达到每人限领数量。", "The member already holds the most coupons allowed."),
    ISSUE_INVALID: ErrorText("发放参数有误。", "The issue request is invalid."),
    ISSUE_CONFLICT: ErrorText("该发放编号已用于其他发放。", "This issue key was used for another issue."),
    NOT_EXCHANGEABLE: ErrorText("该券不能用积分兑换。", "This coupon cannot be bought with points."),
    MEMBER_NOT_ELIGIBLE: ErrorText(
        "会员已冻结、合并或删除，不能领取或使用优惠券。", "The member is frozen, merged or erased."
    ),
    CODE_IMPORT_INVALID: ErrorText("导入的券码有误。", "The imported codes are invalid."),
    NOT_FOUND: ErrorText("券码不存在。", "Unknown coupon code."),
    MEMBER_MISMATCH: ErrorText("该券不属于此会员。", "The coupon belongs to another member."),
    USED: ErrorText("该券已使用。", "The coupon has been used."),
    EXPIRED: ErrorText("该券已过期。", "The coupon has expired."),
    VOIDED: ErrorText("该券已作废。", "The coupon has been voided."),
    LOCKED: ErrorText("该券已被另一笔订单锁定。", "The coupon is locked by another order."),
    NOT_YET_VALID: ErrorText("该券尚未生效。", "The coupon is not valid yet."),
    WRONG_DAY: ErrorText("该券今天不可用。", "The coupon cannot be used on this day of the week."),
    WRONG_TIME: ErrorText("该券当前时段不可用。", "The coupon cannot be used at this time of day."),
    BELOW_THRESHOLD: ErrorText("订单金额未达到使用门槛。", "The order is below the coupon's threshold."),
    WRONG_STORE: ErrorText("该券不适用于本门店。", "The coupon cannot be used in this store."),
    STORE_UNKNOWN: ErrorText("门店不存在。", "Unknown store."),
    REDEEM_INVALID: ErrorText("核销参数有误。", "The write-off request is invalid."),
    REQUEST_CONFLICT: ErrorText(
        "该核销请求号已用于另一笔核销。", "This request number was used for another write-off."
    ),
    REDEMPTION_NOT_FOUND: ErrorText("核销记录不存在。", "Unknown write-off."),
    ISSUE_FORBIDDEN: ErrorText("您的角色不能手工发放优惠券。", "Your role may not issue coupons by hand."),
    ISSUE_APPROVAL_FORBIDDEN: ErrorText(
        "只有品牌管理员可以审批发券申请，且不能审批自己的申请。",
        "Only a brand admin may decide an issue request, and not their own.",
    ),
    ISSUE_REQUEST_DECIDED: ErrorText("该发券申请已处理。", "The issue request has been decided already."),
    REDEMPTION_NOT_LIVE: ErrorText(
        "该核销已撤销或已退款，不能再撤销。", "The write-off was already rolled back or refunded."
    ),
}
error_texts_register(TEXTS)

# HTTP status of each refusal when it reaches the API.
STATUS: dict[str, int] = {
    NOT_FOUND: 404,
    REDEMPTION_NOT_FOUND: 404,
    REQUEST_CONFLICT: 409,
    ISSUE_CONFLICT: 409,
    ISSUE_FORBIDDEN: 403,
    ISSUE_APPROVAL_FORBIDDEN: 403,
    ISSUE_REQUEST_DECIDED: 409,
}


def reason_text(code: str) -> str:
    """The reason a coupon cannot be used, in the active language."""
    text = TEXTS[code]
    return localized(text.zh, text.en)


def coupon_error(code: str, detail: str = "", *, fields: dict[str, list[str]] | None = None, **extra: Any) -> AppError:
    """The AppError of `code`: its text in the active language, then `detail` if any."""
    message = reason_text(code) + (f" {detail}" if detail else "")
    if fields is None and "reasons" in extra:  # every reason a coupon is not usable, as codes
        fields = {"reasons": list(extra["reasons"])}
    return AppError(code, message, fields=fields, status=STATUS.get(code, 400), extra=extra or None)
