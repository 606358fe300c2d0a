"""A ledger reference in words: ``redemption:admin-redeem:8988…`` reads "后台兑换礼品" on a page.

References stay machine keys in the database (they make writes idempotent); people see this."""

import re

_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^order:(\d+)$"), "订单 #{0}"),
    (re.compile(r"^refund:(\d+):points_cash$"), "退款 #{0} 退回抵现积分"),
    (re.compile(r"^refund:(\d+)$"), "退款 #{0}"),
    (re.compile(r"^merge:(.+)$"), "会员合并（{0}）"),
    (re.compile(r"^redemption:admin-redeem:"), "后台兑换礼品"),
    (re.compile(r"^admin-redeem:"), "后台兑换礼品"),
    (re.compile(r"^redemption:"), "兑换礼品"),
    (re.compile(r"^admin-adjust:"), "后台调整积分"),
    (re.compile(r"^campaign:(\d+)$"), "营销活动 #{0}"),
    (re.compile(r"^api:"), "开放接口"),
]


def reference_words(reference: str) -> str:
    if not reference:
        return "-"
    for pattern, words in _WORDS:
        match = pattern.match(reference)
        if match:
            return words.format(*match.groups())
    return reference
