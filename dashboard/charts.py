"""Charts drawn server-side as inline SVG: nothing to download, no script, no CDN — the admin works
offline and the figures in a chart are the same numbers as in its table. Every label and title
is escaped; bars link to the list behind them."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 40
PALETTE = ("#417690", "#e07b39", "#6a9f58", "#b04a5a", "#8c6bb1")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    links: Sequence[str] = ()


def _scale(top: float) -> float:
    """A round axis maximum at or above `top` (1, 2, 5 × 10^n)."""
    if top <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 <= top:
        magnitude *= 10
    while magnitude > top:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= top:
            return step * magnitude
    return 10 * magnitude


def _frame(labels: Sequence[str], y_max: float, unit: str, title: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="dash-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        value = y_max * i / 4
        text = f"{value:g}{unit}"
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">{escape(text)}</text>')
    step, last = max(1, len(labels) // 8), len(labels) - 1
    for i, label in enumerate(labels):
        # Every step-th label and the last one (the latest day); a step-th label closer to the last
        # than half a step is left out, or the two would print over each other (90 days: 88, 89).
        if i == last or (i % step == 0 and last - i >= step / 2):
            x = LEFT + plot_w * (i + 0.5) / max(len(labels), 1)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="axis">')
            parts.append(f"{escape(label)}</text>")
    return parts


def _legend(series: Sequence[Series], extra: Sequence[tuple[str, str]] = ()) -> list[str]:
    parts, x = [], LEFT
    for index, item in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 5}" class="legend">{escape(item.name)}</text>')
        x += 24 + 13 * len(item.name)
    for name, color in extra:
        parts.append(f'<line x1="{x}" x2="{x + 12}" y1="{HEIGHT - 9}" y2="{HEIGHT - 9}" stroke="{color}" ')
        parts.append(f'stroke-dasharray="4 3" stroke-width="2"/><text x="{x + 16}" y="{HEIGHT - 5}" class="legend">')
        parts.append(f"{escape(name)}</text>")
    return parts


def line_chart(
    *, title: str, labels: Sequence[str], series: Sequence[Series], target: float | None = None, unit: str = ""
) -> SafeString:
    """Lines over `labels` (gaps where a value is None), with an optional dashed target line."""
    values = [v for s in series for v in s.values if v is not None]
    y_max = _scale(max([*values, target or 0, 0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(labels, y_max, unit, title)

    def point(i: int, value: float) -> str:
        x = LEFT + plot_w * (i + 0.5) / max(len(labels), 1)
        return f"{x:.1f},{TOP + plot_h - plot_h * value / y_max:.1f}"

    for index, item in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        segment: list[str] = []
        for i, value in enumerate([*item.values, None]):
            if value is None:
                if segment:
                    pts = " ".join(segment)
                    parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
                segment = []
            else:
                segment.append(point(i, value))
    extra = []
    if target is not None:
        y = TOP + plot_h - plot_h * target / y_max
        parts.append(
            f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ba2121" stroke-dasharray="4 3" stroke-width="2"/>'
        )
        extra.append((f"目标 {target:g}{unit}", "#ba2121"))
    parts += _legend(series, extra)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every interpolated text was escaped above)


def bar_chart(*, title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "") -> SafeString:
    """Grouped bars; a bar with a link opens the list behind it."""
    values = [v for s in series for v in s.values if v is not None]
    y_max = _scale(max([*values, 0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(labels, y_max, unit, title)
    slot = plot_w / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for index, item in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        for i, value in enumerate(item.values):
            if not value:
                continue
            height = plot_h * value / y_max
            x = LEFT + slot * i + slot * 0.1 + bar * index
            rect = (
                f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{height:.1f}" fill="{color}"><title>{escape(labels[i])} {escape(item.name)}: '
                f"{value:g}{escape(unit)}</title></rect>"
            )
            link = item.links[i] if i < len(item.links) else ""
            parts.append(f'<a href="{escape(link)}">{rect}</a>' if link else rect)
    parts += _legend(series)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every interpolated text was escaped above)
