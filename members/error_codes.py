"""Stable machine-readable error codes of the members app. The API returns them as `code`; the
admin shows the message. Never rename a code: partners match on it."""

from crm.errors import ErrorText, error_texts_register

# --- loyalty: orders, refunds, points, tiers, rewards ---------------------------------------------
ORDER_INVALID = "order_invalid"
ORDER_CONFLICT = "order_conflict"  # same (channel, order_no) posted again with a different amount
ORDER_NOT_FOUND = "order_not_found"
REFUND_INVALID = "refund_invalid"
REFUND_EXCEEDS_PAID = "refund_exceeds_paid"
REFUND_CONFLICT = "refund_conflict"  # same refund_no posted again with a different amount
POINTS_INVALID = "points_invalid"
POINTS_INSUFFICIENT = "points_insufficient"
POINTS_CASH_DISABLED = "points_cash_disabled"  # the brand has not switched points-as-cash on
POINTS_CASH_NOT_MEMBER = "points_cash_not_member"  # points-as-cash on a tourist order
POINTS_CASH_OVER_CAP = "points_cash_over_cap"  # more than the brand's share of the order
POINTS_ADJUST_FORBIDDEN = "points_adjust_forbidden"
POINTS_ADJUST_OVER_LIMIT = "points_adjust_over_limit"
POINTS_ADJUST_APPROVAL_FORBIDDEN = "points_adjust_approval_forbidden"  # not a brand admin, or one's own request
POINTS_ADJUST_REQUEST_DECIDED = "points_adjust_request_decided"  # approving a rejected request, or the reverse
MEMBER_NOT_ELIGIBLE = "member_not_eligible"  # frozen, erased or merged member for this operation
TIER_INVALID = "tier_invalid"
REWARD_INVALID = "reward_invalid"
REWARD_UNAVAILABLE = "reward_unavailable"
REWARD_OUT_OF_STOCK = "reward_out_of_stock"
REDEMPTION_CONFLICT = "redemption_conflict"  # same reference reused for a different redemption

# --- members core: enrolment, OneID, merge, stores, import ------------------------------------------
MEMBER_INVALID = "member_invalid"  # bad profile input (name, gender, birthday, store, staff, channel)
# A set birthday changed other than in store (its text, both languages: engagement/error_codes.py)
BIRTHDAY_LOCKED = "birthday_locked"
MOBILE_INVALID = "mobile_invalid"  # not a valid mainland China or E.164 mobile number
IDENTITY_INVALID = "identity_invalid"  # unknown kind or empty/oversized value
MEMBER_ALREADY_ENROLLED = "member_already_enrolled"  # an identity of the enrolment is bound already
IDENTITY_CONFLICT = "identity_conflict"  # identity bound to another member: resolve by merging
MEMBER_NOT_FOUND = "member_not_found"
MEMBER_STATE_INVALID = "member_state_invalid"  # e.g. freezing an erased member, acting on a merged one
MERGE_INVALID = "merge_invalid"  # same member, already merged, erased, or no reason
STORE_INVALID = "store_invalid"
STAFF_INVALID = "staff_invalid"
OUT_OF_SCOPE = "out_of_scope"  # a store user acting on another store's member or store
IMPORT_INVALID = "import_invalid"  # the file itself (format, headers, size), not a row
CAPTURE_RATE_INVALID = "capture_rate_invalid"  # an unknown grouping of the capture-rate report

TEXTS: dict[str, ErrorText] = {
    ORDER_INVALID: ErrorText("订单信息有误。", "The order is invalid."),
    ORDER_CONFLICT: ErrorText(
        "该订单号已按另一金额记录过。", "This order number was recorded before with another amount."
    ),
    ORDER_NOT_FOUND: ErrorText("订单不存在。", "The order does not exist."),
    REFUND_INVALID: ErrorText("退款信息有误。", "The refund is invalid."),
    REFUND_EXCEEDS_PAID: ErrorText("退款金额超过了订单实付金额。", "The refund exceeds what was paid."),
    REFUND_CONFLICT: ErrorText(
        "该退款单号已按另一金额记录过。", "This refund number was recorded before with another amount."
    ),
    POINTS_INVALID: ErrorText("积分数量有误。", "The points amount is invalid."),
    POINTS_INSUFFICIENT: ErrorText("积分不足。", "Not enough points."),
    POINTS_CASH_DISABLED: ErrorText("本品牌未开启积分抵现。", "Points as cash is switched off for this brand."),
    POINTS_CASH_NOT_MEMBER: ErrorText("非会员订单不能使用积分抵现。", "Only a member's order can pay with points."),
    POINTS_CASH_OVER_CAP: ErrorText(
        "积分抵扣超过了订单可抵扣的上限。", "The points exceed the share of the order they may pay."
    ),
    POINTS_ADJUST_FORBIDDEN: ErrorText("您的角色不能调整积分。", "Your role may not adjust points."),
    POINTS_ADJUST_OVER_LIMIT: ErrorText(
        "超过了您的积分调整额度，已提交审批。", "Over your adjustment limit; the request awaits approval."
    ),
    POINTS_ADJUST_APPROVAL_FORBIDDEN: ErrorText(
        "只有品牌管理员可以审批积分调整，且不能审批自己的申请。",
        "Only a brand admin may decide an adjustment request, and not their own.",
    ),
    POINTS_ADJUST_REQUEST_DECIDED: ErrorText("该调整申请已处理。", "The adjustment request has been decided already."),
    MEMBER_NOT_ELIGIBLE: ErrorText(
        "会员已冻结、注销或合并，不能办理此业务。", "The member is frozen, erased or merged."
    ),
    TIER_INVALID: ErrorText("等级设置有误。", "The tier is invalid."),
    REWARD_INVALID: ErrorText("礼品信息有误。", "The reward is invalid."),
    REWARD_UNAVAILABLE: ErrorText("该礼品当前不可兑换。", "The reward cannot be redeemed now."),
    REWARD_OUT_OF_STOCK: ErrorText("该礼品库存不足。", "The reward is out of stock."),
    REDEMPTION_CONFLICT: ErrorText("该兑换编号已用于另一笔兑换。", "This reference was used for another redemption."),
    MEMBER_INVALID: ErrorText("会员信息有误。", "The member's details are invalid."),
    MOBILE_INVALID: ErrorText("请输入正确的手机号。", "Enter a valid mobile number."),
    IDENTITY_INVALID: ErrorText("身份标识有误。", "The identity is invalid."),
    MEMBER_ALREADY_ENROLLED: ErrorText("该顾客已是本品牌会员。", "This person is a member already."),
    IDENTITY_CONFLICT: ErrorText(
        "该身份已属于另一位会员，如为同一人请合并会员。",
        "The identity belongs to another member; merge them if they are one person.",
    ),
    MEMBER_NOT_FOUND: ErrorText("会员不存在。", "The member does not exist."),
    MEMBER_STATE_INVALID: ErrorText("会员当前状态不能办理此业务。", "The member's state does not allow this."),
    MERGE_INVALID: ErrorText("不能合并这两位会员。", "These members cannot be merged."),
    STORE_INVALID: ErrorText("门店有误。", "The store is invalid."),
    STAFF_INVALID: ErrorText("员工有误。", "The staff member is invalid."),
    OUT_OF_SCOPE: ErrorText("只能办理本门店的会员和业务。", "Only your own store's members and business."),
    IMPORT_INVALID: ErrorText("导入文件有误。", "The import file is invalid."),
    CAPTURE_RATE_INVALID: ErrorText("不支持的分组。", "Unsupported grouping."),
    BIRTHDAY_LOCKED: ErrorText(
        "生日已设置，不能再修改；如需更正，请带上证件到门店，由店员在工作台办理。",
        "The birthday is set and cannot be changed here; the member corrects it in store, with ID.",
    ),
}
error_texts_register(TEXTS)
