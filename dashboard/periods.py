"""The dashboard's date range (今日 / 近 7 天 / 近 30 天 / 自定义) and its previous period for 环比.

Days are brand-local. The previous period is the same number of days ending the day before the
range starts. Range figures are sums of per-day rows (dashboard.models.ActivityDaily,
MemberEnrolmentDaily, members.CaptureRateDaily), so any range costs the same few indexed reads;
ActivityDaily keeps ROLLUP_DAYS days, so a custom range (and its previous period) must lie in them.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

# Days of history in ActivityDaily (today included): a year, so a range of up to half a year has
# its previous period too.
ROLLUP_DAYS = 366
MAX_RANGE_DAYS = 183
PRESETS = {"today": 1, "7d": 7, "30d": 30}
LABELS = {"today": "今日", "7d": "近 7 天", "30d": "近 30 天", "custom": "自定义"}
DEFAULT = "7d"


@dataclass(frozen=True)
class Period:
    key: str  # today | 7d | 30d | custom
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> "Period":
        end = self.start - dt.timedelta(days=1)
        return Period("previous", end - dt.timedelta(days=self.days - 1), end)

    @property
    def label(self) -> str:
        if self.key == "custom":
            return f"{self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}"
        return LABELS[self.key]

    def query(self) -> dict[str, str]:
        """The GET parameters that choose this period (for links and exports)."""
        if self.key == "custom":
            return {"range": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"range": self.key}


def preset(key: str, today: dt.date) -> Period:
    return Period(key, today - dt.timedelta(days=PRESETS[key] - 1), today)


def earliest_start(today: dt.date, days: int) -> dt.date:
    """The first day a range of `days` may start on: its previous period must be in the rollup."""
    return today - dt.timedelta(days=ROLLUP_DAYS - 1) + dt.timedelta(days=days)


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def period_from_query(params: Mapping[str, str], today: dt.date) -> tuple[Period, str]:
    """The period a request asks for, and a Chinese message when a custom range was refused (the
    page then shows the default range and says why). Unknown values fall back to the default."""
    key = params.get("range", DEFAULT)
    if key in PRESETS:
        return preset(key, today), ""
    if key != "custom":
        return preset(DEFAULT, today), ""
    start, end = _date(params.get("start", "")), _date(params.get("end", ""))
    if start is None or end is None:
        return preset(DEFAULT, today), "请选择自定义区间的开始和结束日期。"
    if start > end:
        return preset(DEFAULT, today), "开始日期不能晚于结束日期。"
    if end > today:
        return preset(DEFAULT, today), "结束日期不能晚于今天。"
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        return preset(DEFAULT, today), f"自定义区间最长 {MAX_RANGE_DAYS} 天。"
    if start < earliest_start(today, days):
        first = earliest_start(today, days)
        return preset(DEFAULT, today), f"这么长的区间最早从 {first:%Y-%m-%d} 开始（环比需要同样长的上一区间）。"
    return Period("custom", start, end), ""
