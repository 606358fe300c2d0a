"""Mobile numbers: validation and normalisation to E.164 (phonenumbers), and masking for staff
who may not see them in full.

Input may be a mainland number as people type it (``138 1234 1234``, ``+86 138-1234-1234``,
``0086 13812341234``) or any international number in E.164 form (``+85291234567``). Storage is
always E.164 (``+8613812341234``), so one person's number is one identity value whatever way it
was typed.
"""

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from crm.errors import AppError

from . import error_codes

DEFAULT_REGION = "CN"
# Fixed lines are refused: membership identities are personal mobiles (SMS, WeChat binding).
# Some regions (US, ...) cannot tell the two apart, hence FIXED_LINE_OR_MOBILE.
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def mobile_normalize(value: str) -> str:
    """The E.164 form of a mobile number, or AppError(mobile_invalid)."""
    raw = (value or "").strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except NumberParseException as exc:
        raise _invalid(value) from exc
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise _invalid(value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mobile_normalize_or_none(value: str) -> str | None:
    """For search boxes: the E.164 form if `value` reads as a mobile number, else None."""
    try:
        return mobile_normalize(value)
    except AppError:
        return None


def mobile_national(e164: str) -> str:
    """How staff read a stored number: mainland numbers without +86, others in E.164."""
    if e164.startswith("+86"):
        return e164[3:]
    return e164


def mobile_mask(e164: str) -> str:
    """``+8613812341234`` → ``138****1234``; other countries keep their code: ``+852****4567``.

    Mainland numbers keep their first three and last four digits (the convention Chinese staff
    and members know from receipts and SMS); elsewhere the country code and the last four stay.
    A short or legacy value is masked all but its last two characters.
    """
    if not e164:
        return ""
    if e164.startswith("+86") and len(e164) == 14:
        national = e164[3:]
        return f"{national[:3]}****{national[-4:]}"
    country = _country_prefix(e164)
    if country and len(e164) - len(country) >= 7:
        return f"{country}****{e164[-4:]}"
    return "*" * max(len(e164) - 2, 0) + e164[-2:]


def _country_prefix(e164: str) -> str:
    try:
        return f"+{phonenumbers.parse(e164).country_code}"
    except NumberParseException:
        return ""


def _invalid(value: str) -> AppError:
    message = f"“{value}”不是有效的手机号（中国大陆 11 位手机号，或以 + 开头的国际号码）。"
    return AppError(error_codes.MOBILE_INVALID, message, fields={"mobile": [message]})
