"""The inline charts' axis labels do not print over each other."""

import re

from dashboard.charts import Series, line_chart


def axis_labels(svg: str) -> list[str]:
    return re.findall(r'class="axis">([^<]+)</text>', svg)


def test_ninety_days_label_every_eleventh_day_and_the_last_without_crowding_it() -> None:
    days = [f"d{i:02d}" for i in range(90)]
    svg = str(line_chart(title="趋势", labels=days, series=[Series("订单占比", [50.0] * 90)]))
    shown = [label for label in axis_labels(svg) if label.startswith("d")]

    # Every 11th day, the latest day, and not day 88 right beside it (they used to overlap).
    assert shown == ["d00", "d11", "d22", "d33", "d44", "d55", "d66", "d77", "d89"]


def test_a_week_labels_every_day() -> None:
    days = [f"12-0{i}" for i in range(1, 8)]
    svg = str(line_chart(title="一周", labels=days, series=[Series("新会员", [1.0] * 7)]))

    assert [label for label in axis_labels(svg) if label.startswith("12-")] == days
