"""每日签到 on the member centre: the member's check-in calendar for a brand month (signed days,
made-up days, days that can still be made up), the streak, the cycle and its make-ups left, the
milestone ladder; checking in today and making up a day go through engagement's services
(engagement sits below the member centre), with their rules and Chinese refusals. Registers the
section tile on the card page."""

import calendar
import datetime as dt
from dataclasses import dataclass

from django.urls import reverse
from django.utils import timezone

from crm.tenancy.zones import brand_date
from engagement.models import Checkin
from engagement.selectors import CalendarDay, CheckinCalendar, checkin_calendar
from members.models import Member

from .sections import Section, section_register

WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日")


@dataclass(frozen=True)
class Cell:
    day: CalendarDay | None  # None: a blank before the 1st / after the last day
    today: bool = False
    future: bool = False


def calendar_weeks(cal: CheckinCalendar) -> list[list[Cell]]:
    """The month as weeks Monday..Sunday, blanks around it."""
    lead = cal.month.weekday()
    cells = [Cell(None)] * lead
    cells += [Cell(day, today=day.date == cal.today, future=day.date > cal.today) for day in cal.days]
    cells += [Cell(None)] * (-len(cells) % 7)
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


def month_shift(month: dt.date, by: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + by
    return dt.date(index // 12, index % 12 + 1, 1)


def month_parse(value: str, *, today: dt.date) -> dt.date:
    """`YYYY-MM` within the last year up to this month; anything else is this month."""
    try:
        year, month = (int(part) for part in value.split("-", 1))
        wanted = dt.date(year, month, 1)
    except ValueError:
        return today.replace(day=1)
    this = today.replace(day=1)
    return wanted if month_shift(this, -12) <= wanted <= this else this


def month_label(month: dt.date) -> str:
    return f"{month.year} 年 {month.month} 月"


def month_days(month: dt.date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def checkin_calendar_for(*, member: Member, month: dt.date | None = None) -> CheckinCalendar:
    return checkin_calendar(member=member, month=month)


def _badge(member: Member) -> str:
    signed = Checkin.objects.filter(member_id=member.pk, biz_date=brand_date(timezone.now())).exists()
    return "今日已签到" if signed else "今日未签到"


def checkin_section_register() -> None:
    section_register(
        Section(
            key="checkin",
            title="每日签到",
            order=20,
            description="签到领积分",
            url=lambda member: reverse("membercentre:checkin"),
            badge=_badge,
        )
    )
