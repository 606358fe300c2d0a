import datetime as dt
from decimal import Decimal

from django import template
from django.utils.html import format_html

from ..tables import Cell

register = template.Library()


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@register.simple_tag
def dash_cell(cell: Cell) -> str:
    """A figure, linked to the list behind it when there is one (escaped by format_html)."""
    text = _text(cell.value)
    if cell.url:
        return format_html('<a href="{}">{}</a>', cell.url, text)
    return format_html("{}", text)
