"""Stable machine-readable error codes of the members app. The API returns them as `code`; the
admin shows the message. Never rename a code: partners match on it."""

# --- loyalty: orders, refunds, points, tiers, rewards ---------------------------------------------
ORDER_INVALID = "order_invalid"
ORDER_CONFLICT = "order_conflict"  # same (channel, order_no) posted again with a different amount
ORDER_NOT_FOUND = "order_not_found"
REFUND_INVALID = "refund_invalid"
REFUND_EXCEEDS_PAID = "refund_exceeds_paid"
REFUND_CONFLICT = "refund_conflict"  # same refund_no posted again with a different amount
POINTS_INVALID = "points_invalid"
POINTS_INSUFFICIENT = "points_insufficient"
POINTS_ADJUST_FORBIDDEN = "points_adjust_forbidden"
POINTS_ADJUST_OVER_LIMIT = "points_adjust_over_limit"
MEMBER_NOT_ELIGIBLE = "member_not_eligible"  # frozen, erased or merged member for this operation
TIER_INVALID = "tier_invalid"
REWARD_INVALID = "reward_invalid"
REWARD_UNAVAILABLE = "reward_unavailable"
REWARD_OUT_OF_STOCK = "reward_out_of_stock"
REDEMPTION_CONFLICT = "redemption_conflict"  # same reference reused for a different redemption
