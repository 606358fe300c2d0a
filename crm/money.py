"""Money as people read and type it: yuan (``¥1,258.00``), while the database keeps integer fen.

One place for every page: `yuan` shows an amount, `yuan_column` makes an admin list/inline
column of a fen field, `YuanField` is a form field people type yuan into and that cleans to fen.
"""

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextInputWidget

CENT = Decimal("0.01")


def yuan(fen: int | None, *, sign: bool = False) -> str:
    """``125800`` → ``¥1,258.00``; ``None`` → ``-``. With `sign`, a refund reads ``-¥12.00``."""
    if fen is None:
        return "-"
    prefix = "-" if fen < 0 else ("+" if sign and fen > 0 else "")
    return f"{prefix}¥{abs(fen) / 100:,.2f}"


def fen_to_yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / 100).quantize(CENT)


def yuan_to_fen(value: Decimal) -> int:
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_UP))


def yuan_column(field: str, description: Any) -> Callable[[Any], str]:
    """An admin column showing the fen field `field` in yuan: ``yuan_column("amount_fen", _("实付金额"))``."""

    @admin.display(description=description, ordering=field)
    def column(obj: Any) -> str:
        return yuan(getattr(obj, field))

    column.__name__ = f"{field}_yuan"
    return column


class AmountField(forms.DecimalField):
    """A decimal people type as they write it: "1,258.50", "¥1000" (separators and the currency
    sign are dropped). Cleans to a Decimal; YuanField goes on to fen."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("max_digits", 14)
        # Text, not a number input: a number input refuses "1,258.50".
        kwargs.setdefault("widget", UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal"}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").strip()
        return super().to_python(value)


class YuanField(AmountField):
    """Typed in yuan (``1000`` or ``1,000.50``), cleaned to integer fen; shows fen as yuan."""

    default_error_messages = {"invalid": _("请输入金额（元），最多两位小数，例如 1258.00")}

    def prepare_value(self, value: Any) -> Any:
        # The bound form gives back what was typed (a string); the initial value is fen.
        if isinstance(value, int) and not isinstance(value, bool):
            return fen_to_yuan(value)
        return value

    def clean(self, value: Any) -> int | None:
        amount = super().clean(value)
        if amount is None:
            return None
        try:
            return yuan_to_fen(Decimal(amount))
        except InvalidOperation as exc:  # pragma: no cover - DecimalField has validated it
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc
