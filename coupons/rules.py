"""Pure rules of a coupon, shared by the services (inside their locks) and the selectors: codes,
validity windows in brand time, why a coupon cannot be used, the discount, and the words people
read. Nothing here writes."""

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from crm.tenancy.zones import brand_zone

from . import error_codes
from .models import Coupon, CouponTemplate

# 32 symbols: no 0/O and no 1/I, which people confuse when they read a code aloud or type it.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
# 16 symbols × 5 bits = 80 bits: not guessable at any rate the API lets through.
GENERATED_LENGTH = 16


def code_normalize(code: str) -> str:
    """A code as typed or scanned: case, spaces and dashes do not matter."""
    return "".join(ch for ch in (code or "").upper() if ch not in " -\t\r\n")


def code_hash(code: str) -> str:
    return hashlib.sha256(b"coupon:" + code_normalize(code).encode()).hexdigest()


def code_generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(GENERATED_LENGTH))


def code_shown(code: str) -> str:
    """A generated code in groups of four, as printed and read aloud."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4)) if len(code) > 8 else code


# --- validity ---------------------------------------------------------------------------------------


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=brand_zone())


def day_end(day: dt.date) -> dt.datetime:
    """'Until 6-30' means until 23:59:59.999999 on 30 June, brand time."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=brand_zone())


def window(template: CouponTemplate, *, issued_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """A coupon's validity received at `issued_at`: the template's own window (fixed dates)
    intersected with the relative one (wait days, then N days, counted in brand days). The start
    may lie after the end: the caller refuses to issue such a coupon."""
    start = day_start(template.valid_from_date) if template.valid_from_date else issued_at
    end = day_end(template.valid_until_date) if template.valid_until_date else None
    if template.validity_kind == CouponTemplate.ValidityKind.RELATIVE:
        received = issued_at.astimezone(brand_zone()).date()
        first = received + dt.timedelta(days=template.wait_days)
        rel_start = issued_at if template.wait_days == 0 else day_start(first)
        rel_end = day_end(first + dt.timedelta(days=(template.valid_days or 1) - 1))
        start = max(start, rel_start)
        end = rel_end if end is None else min(end, rel_end)
    if end is None:  # a fixed template without an end: the form requires one; be safe anyway
        end = day_end(issued_at.astimezone(brand_zone()).date() + dt.timedelta(days=3650))
    return start, end


# --- usability and discount -------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """Where and on what a coupon would be used."""

    now: dt.datetime
    store_id: int | None = None
    order_amount_fen: int | None = None  # None: not known yet (the member's list)
    shipping_fen: int = 0
    member_id: int | None = None
    order_ref: str = ""  # channel/order_no: a coupon locked for this order is usable by it
    # False for the member's own list, where no store is in question yet; a write-off always
    # checks the store scope (no store given is outside a store-limited coupon's scope).
    store_known: bool = True


def reasons(coupon: Coupon, template: CouponTemplate, store_ids: frozenset[int], use: Use) -> list[str]:
    """Every reason the coupon cannot be used now (empty: usable), most decisive first."""
    found: list[str] = []
    if use.member_id is not None and coupon.member_id != use.member_id:
        found.append(error_codes.MEMBER_MISMATCH)
    state = coupon.state
    if state == Coupon.State.LOCKED and (
        coupon.locked_order == use.order_ref or (coupon.locked_until is not None and coupon.locked_until < use.now)
    ):
        state = Coupon.State.ISSUED
    if state == Coupon.State.USED:
        found.append(error_codes.USED)
    elif state == Coupon.State.VOIDED:
        found.append(error_codes.VOIDED)
    elif state == Coupon.State.LOCKED:
        found.append(error_codes.LOCKED)
    elif state == Coupon.State.EXPIRED or use.now > coupon.valid_until:
        found.append(error_codes.EXPIRED)
    if state in (Coupon.State.ISSUED, Coupon.State.RETURNED) and use.now < coupon.valid_from:
        found.append(error_codes.NOT_YET_VALID)
    local = use.now.astimezone(brand_zone())
    if template.weekdays and local.isoweekday() not in template.weekdays:
        found.append(error_codes.WRONG_DAY)
    if template.time_from and template.time_until and not template.time_from <= local.time() <= template.time_until:
        found.append(error_codes.WRONG_TIME)
    if store_ids and use.store_known and use.store_id not in store_ids:
        found.append(error_codes.WRONG_STORE)
    if use.order_amount_fen is not None and use.order_amount_fen < template.threshold_fen:
        found.append(error_codes.BELOW_THRESHOLD)
    return found


def discount(template: CouponTemplate, *, payable_fen: int, shipping_fen: int = 0) -> int:
    """What the coupon takes off an order of `payable_fen`: never more than the payable amount."""
    kind = template.kind
    if kind == CouponTemplate.Kind.AMOUNT_OFF:
        off = template.amount_off_fen
    elif kind == CouponTemplate.Kind.PERCENT_OFF:
        off = payable_fen * template.percent_off // 100
        if template.cap_fen is not None:
            off = min(off, template.cap_fen)
    elif kind == CouponTemplate.Kind.FREE_SHIPPING:
        off = shipping_fen
    else:  # a gift: the item is handed over, the order's amount does not change
        off = 0
    return max(0, min(off, payable_fen))


# --- words --------------------------------------------------------------------------------------------


def yuan(fen: int | None) -> str:
    """Fen as people read money: ¥1,258.00 (integer arithmetic, no float)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def benefit_words(template: CouponTemplate) -> str:
    """满 ¥100.00 减 ¥20.00 / 8.8 折，最高减 ¥50.00 / 赠 杯子 / 免运费."""
    threshold = f"满 {yuan(template.threshold_fen)} " if template.threshold_fen else "无门槛 "
    kind = template.kind
    if kind == CouponTemplate.Kind.AMOUNT_OFF:
        return f"{threshold}减 {yuan(template.amount_off_fen)}"
    if kind == CouponTemplate.Kind.PERCENT_OFF:
        rate = (100 - template.percent_off) / 10
        cap = f"，最高减 {yuan(template.cap_fen)}" if template.cap_fen is not None else ""
        return f"{threshold}{rate:g} 折{cap}"
    if kind == CouponTemplate.Kind.GIFT:
        return f"{threshold}赠 {template.gift_name or template.gift_sku}"
    return f"{threshold}免运费"


WEEKDAY_NAMES = "一二三四五六日"


def validity_words(template: CouponTemplate) -> str:
    """有效期 in words: 2027-06-01 至 2027-06-30 / 领取后第 2 天起 30 天内有效; 仅周六、周日 10:00–22:00."""
    if template.validity_kind == CouponTemplate.ValidityKind.RELATIVE:
        wait = f"领取后第 {template.wait_days + 1} 天起" if template.wait_days else "领取当天起"
        text = f"{wait} {template.valid_days} 天内有效"
        if template.valid_until_date:
            text += f"（不晚于 {template.valid_until_date:%Y-%m-%d}）"
    else:
        start = f"{template.valid_from_date:%Y-%m-%d}" if template.valid_from_date else "领取即日"
        text = f"{start} 至 {template.valid_until_date:%Y-%m-%d}" if template.valid_until_date else f"{start} 起"
    if template.weekdays:
        text += "；仅" + "、".join(f"周{WEEKDAY_NAMES[d - 1]}" for d in sorted(template.weekdays))
    if template.time_from and template.time_until:
        text += f" {template.time_from:%H:%M}–{template.time_until:%H:%M}"
    return text
