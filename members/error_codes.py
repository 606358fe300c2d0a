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
