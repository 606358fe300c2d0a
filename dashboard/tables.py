"""The dashboard's widgets as tables (and the charts drawn from them). The page renders these
tables and the CSV/XLSX export serialises the very same ones, so a figure on screen and in a
download cannot disagree. Every cell that is a count of members, orders or entries links to the
filtered admin list behind it (when the user may open that list)."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlencode

from django.db.models import Model
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from campaigns.models import Occurrence
from consent.models import ConsentState, DataRequest, Purpose
from members.models import Member, Order, PointsEntry, SalesChannel, Staff, Store, Tier
from members.scoping import StoreScope, user_scope
from members.services.capture_rate import CaptureRateRow
from performance.models import Attribution
from wecom.models import CustomerTransfer

from . import selectors
from .charts import Series, bar_chart, line_chart
from .periods import DEFAULT, Period, preset


@dataclass(frozen=True)
class Change:
    """环比 on a KPI card: the change against the previous period of the same length."""

    text: str  # "↑ 12.5%", "↓ 3 个百分点", "持平", or "—" when the previous period had nothing
    direction: str  # up | down | flat | none


def change(current: float | None, previous: float | None, *, share: bool = False) -> Change:
    """Relative change of a count or amount; for a share (a percentage) the difference in
    percentage points, since a relative change of a rate reads as nonsense."""
    if current is None or previous is None or (not share and previous == 0):
        return Change("—", "none")
    delta = current - previous
    if delta == 0:
        return Change("持平", "flat")
    arrow, direction = ("↑", "up") if delta > 0 else ("↓", "down")
    if share:
        return Change(f"{arrow} {abs(delta):.1f} 个百分点", direction)
    relative = abs(delta) / previous * 100
    # A change too small for one decimal reads "< 0.1%", not "↓ 0.0%".
    return Change(f"{arrow} {relative:.1f}%" if relative >= 0.05 else f"{arrow} < 0.1%", direction)


@dataclass(frozen=True)
class Cell:
    value: Any
    url: str = ""
    change: Change | None = None


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    chart: SafeString | None = None


@dataclass
class Section:
    key: str
    title: str
    tables: list[Table]
    figures: list[tuple[str, Cell]] = field(default_factory=list)
    note: str = ""


def yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / 100).quantize(Decimal("0.01"))


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


class Links:
    """Admin changelist URLs with filters; empty when the user may not open the list (a store
    user cannot open the consent admin, for instance)."""

    def __init__(self, user: Any) -> None:
        self.user = user

    def changelist(self, model: type[Model], **params: Any) -> str:
        meta = model._meta
        if not self.user.has_perm(f"{meta.app_label}.view_{meta.model_name}"):
            return ""
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        return f"{url}?{urlencode(params)}" if params else url

    def change(self, model: type[Model], pk: int) -> str:
        meta = model._meta
        if not self.user.has_perm(f"{meta.app_label}.view_{meta.model_name}"):
            return ""
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk])

    def members(self, **params: Any) -> str:
        return self.changelist(Member, **params)

    def orders(self, date_from: dt.date, date_to: dt.date, **params: Any) -> str:
        return self.changelist(
            Order, paid_at__date__gte=date_from.isoformat(), paid_at__date__lte=date_to.isoformat(), **params
        )


@dataclass
class Board:
    """Everything one request needs to build widgets: user, scope, dates, names, links."""

    user: Any
    scope: StoreScope
    today: dt.date
    now: dt.datetime
    links: Links
    period: Period
    _names: dict[str, dict[Any, str]] = field(default_factory=dict)
    _members_total: int | None = None
    _range: tuple[selectors.RangeFigures, selectors.RangeFigures] | None = None

    @classmethod
    def for_user(cls, user: Any, store_id: int | None = None, period: Period | None = None) -> "Board":
        """The user's board; a brand role (all stores) may narrow it to one store, and then sees
        exactly what that store's own users see (the same scope, the same figures). `period`:
        the date range of the range figures and tables (default 近 7 天)."""
        scope = user_scope(user)
        if store_id is not None and scope.all_stores and Store.objects.filter(pk=store_id).exists():
            scope = StoreScope(all_stores=False, store_id=store_id, staff_id=scope.staff_id)
        today = selectors.local_today()
        return cls(user, scope, today, timezone.now(), Links(user), period or preset(DEFAULT, today))

    def names(self, model: type[Store | Staff | Tier]) -> dict[Any, str]:
        """id → display name of stores, staff or tiers (small tables, one query each per request)."""
        key = model._meta.label
        if key not in self._names:
            self._names[key] = {pk: name for pk, name in model.objects.values_list("pk", "name")}
        return self._names[key]

    def members_total(self) -> int:
        """Current members of the scope (the members and consent sections both need it: one query)."""
        if self._members_total is None:
            self._members_total = selectors.members_total(scope=self.scope)
        return self._members_total

    def range_figures(self) -> tuple[selectors.RangeFigures, selectors.RangeFigures]:
        """The range's figures and its previous period's (the range cards, and the 环比 of the
        members total): read once a request."""
        if self._range is None:
            self._range = selectors.range_figures(scope=self.scope, period=self.period)
        return self._range

    def store_params(self) -> dict[str, Any]:
        """Filter a store user's order list to their store (the list is scoped anyway)."""
        return {} if self.scope.all_stores or self.scope.store_id is None else {"store__id__exact": self.scope.store_id}


# --- sections ---------------------------------------------------------------------------------------


def range_section(board: Board) -> Section:
    """The range's KPI cards, each with its 环比 against the previous period of the same length."""
    period, links = board.period, board.links
    now, before = board.range_figures()
    previous = period.previous
    orders_url = links.orders(period.start, period.end, **board.store_params())
    member_orders_url = links.orders(period.start, period.end, member_order="1", **board.store_params())
    dates = {"created_at__date__gte": period.start.isoformat(), "created_at__date__lte": period.end.isoformat()}

    def card(value: Any, prior: Any, url: str = "", *, share: bool = False, money: bool = False) -> Cell:
        shown = yuan(value) if money else value
        return Cell(shown, url, change(value, prior, share=share))

    figures = [
        (
            "新会员",
            card(
                now.new_members,
                before.new_members,
                links.members(
                    enrolled_at__date__gte=period.start.isoformat(), enrolled_at__date__lte=period.end.isoformat()
                ),
            ),
        ),
        ("订单数", card(now.orders_total, before.orders_total, orders_url)),
        ("GMV（元）", card(now.gmv_total_fen, before.gmv_total_fen, money=True)),
        ("会员 GMV（元）", card(now.gmv_member_fen, before.gmv_member_fen, money=True)),
        ("会员订单占比%", card(now.order_rate_pct, before.order_rate_pct, member_orders_url, share=True)),
        ("会员 GMV 占比%", card(now.gmv_rate_pct, before.gmv_rate_pct, share=True)),
        (
            "积分发放",
            card(
                now.points_earned,
                before.points_earned,
                links.changelist(PointsEntry, kind__in="earn,bonus", **dates),
            ),
        ),
        (
            "积分兑换",
            card(
                now.points_redeemed,
                before.points_redeemed,
                links.changelist(PointsEntry, kind__exact="redeem", **dates),
            ),
        ),
        ("等级升级", card(now.tier_ups, before.tier_ups)),
        ("撤回授权", card(now.withdrawals, before.withdrawals)),
    ]
    note = f"环比：与上一区间 {previous.start:%Y-%m-%d} 至 {previous.end:%Y-%m-%d}（同样 {period.days} 天）相比"
    return Section("range", f"区间概览 · {period.label}", [], figures, note=note)


def capture_section(board: Board) -> Section:
    windows, daily = selectors.capture_windows(scope=board.scope, today=board.today)
    target = selectors.settings_get()
    summary = Table(
        "capture_windows",
        "会员交易占比（订单数 / GMV）",
        ["区间", "订单数", "会员订单", "订单占比%", "GMV（元）", "会员 GMV（元）", "GMV 占比%"],
    )
    labels = {1: "今日", 7: "近 7 天", 30: "近 30 天", 90: "近 90 天"}
    for w in windows:
        r = w.row
        summary.rows.append(
            [
                Cell(labels[w.days]),
                Cell(r.orders_total, board.links.orders(w.date_from, w.date_to, **board.store_params())),
                Cell(
                    r.orders_member,
                    board.links.orders(w.date_from, w.date_to, member_order="1", **board.store_params()),
                ),
                Cell(r.order_rate_pct),
                Cell(yuan(r.gmv_total_fen)),
                Cell(yuan(r.gmv_member_fen)),
                Cell(r.gmv_rate_pct),
            ]
        )
    first = board.today - dt.timedelta(days=89)
    by_day = {r.key["day"]: r for r in daily}
    days = [first + dt.timedelta(days=i) for i in range(90)]
    trend = Table("capture_trend", "近 90 天趋势", ["日期", "订单数", "会员订单", "订单占比%", "GMV 占比%"])
    for day in days:
        day_row = by_day.get(day)
        if day_row is not None:
            trend.rows.append(
                [
                    Cell(day),
                    Cell(day_row.orders_total, board.links.orders(day, day, **board.store_params())),
                    Cell(
                        day_row.orders_member,
                        board.links.orders(day, day, member_order="1", **board.store_params()),
                    ),
                    Cell(day_row.order_rate_pct),
                    Cell(day_row.gmv_rate_pct),
                ]
            )
    trend.chart = line_chart(
        title="会员交易占比趋势",
        labels=[f"{d:%m-%d}" for d in days],
        series=[
            Series("订单占比", [by_day[d].order_rate_pct if d in by_day else None for d in days]),
            Series("GMV 占比", [by_day[d].gmv_rate_pct if d in by_day else None for d in days]),
        ],
        target=target.capture_target_pct,
        unit="%",
    )
    # The channel and store tables follow the chosen range.
    range_from, range_to, label = board.period.start, board.period.end, board.period.label
    channel_names = dict(SalesChannel.choices)
    by_channel = Table("capture_channel", f"{label} · 按渠道", ["渠道", "订单数", "会员订单", "订单占比%", "GMV 占比%"])
    for r in selectors.capture_by(scope=board.scope, group="channel", date_from=range_from, date_to=range_to):
        channel = cast(str, r.key["channel"])  # grouped by channel: the key holds its code
        params = {"channel__exact": channel, **board.store_params()}
        by_channel.rows.append(
            [
                Cell(str(channel_names.get(channel, channel))),
                Cell(r.orders_total, board.links.orders(range_from, range_to, **params)),
                Cell(r.orders_member, board.links.orders(range_from, range_to, member_order="1", **params)),
                Cell(r.order_rate_pct),
                Cell(r.gmv_rate_pct),
            ]
        )
    stores = board.names(Store)
    by_store = Table("capture_store", f"{label} · 按门店", ["门店", "订单数", "会员订单", "订单占比%", "GMV 占比%"])
    for r in selectors.capture_by(scope=board.scope, group="store", date_from=range_from, date_to=range_to):
        store_id = r.key["store"]
        params = {"store__id__exact": store_id} if store_id else {"store__isnull": "True"}
        by_store.rows.append(
            [
                Cell(stores.get(store_id, "（线上，无门店）")),
                Cell(r.orders_total, board.links.orders(range_from, range_to, **params)),
                Cell(r.orders_member, board.links.orders(range_from, range_to, member_order="1", **params)),
                Cell(r.order_rate_pct),
                Cell(r.gmv_rate_pct),
            ]
        )
    today_row = windows[0].row
    yesterday = _capture_sum(daily, board.today - dt.timedelta(days=1), board.today - dt.timedelta(days=1))
    before_30 = _capture_sum(daily, board.today - dt.timedelta(days=59), board.today - dt.timedelta(days=30))
    figures = [
        (
            "今日会员订单占比%",
            Cell(
                today_row.order_rate_pct,
                summary.rows[0][2].url,
                change(today_row.order_rate_pct, yesterday.order_rate_pct, share=True),
            ),
        ),
        (
            "近 30 天 GMV 占比%",
            Cell(
                windows[2].row.gmv_rate_pct,
                summary.rows[2][5].url,
                change(windows[2].row.gmv_rate_pct, before_30.gmv_rate_pct, share=True),
            ),
        ),
        ("订单占比目标%", Cell(target.capture_target_pct)),
    ]
    note = "环比：今日与昨日相比，近 30 天与之前 30 天相比"
    return Section("capture", "会员交易占比", [summary, trend, by_channel, by_store], figures, note=note)


def _capture_sum(daily: list[CaptureRateRow], first: dt.date, last: dt.date) -> CaptureRateRow:
    """The capture rate of [first, last] summed from the daily rows (the trend's 90 days)."""
    rows = [r for r in daily if first <= cast(dt.date, r.key["day"]) <= last]
    return CaptureRateRow(
        key={},
        orders_total=sum(r.orders_total for r in rows),
        orders_member=sum(r.orders_member for r in rows),
        gmv_total_fen=sum(r.gmv_total_fen for r in rows),
        gmv_member_fen=sum(r.gmv_member_fen for r in rows),
    )


def members_section(board: Board) -> Section:
    links = board.links
    total = board.members_total()
    new = selectors.members_new_per_day(scope=board.scope, date_from=board.period.start, date_to=board.period.end)
    new_table = Table("members_new", f"每日新会员 · {board.period.label}", ["日期", "新会员"])
    day_links = [links.members(enrolled_at__date=day.isoformat()) for day in new]
    for (day, n), url in zip(new.items(), day_links, strict=True):
        new_table.rows.append([Cell(day), Cell(n, url)])
    new_table.chart = bar_chart(
        title="每日新会员", labels=[f"{d:%m-%d}" for d in new], series=[Series("新会员", list(new.values()), day_links)]
    )
    channel_names = dict(SalesChannel.choices)
    by_channel = Table("members_channel", "按入会渠道", ["入会渠道", "会员数"])
    for channel, n in selectors.members_by(scope=board.scope, field="channel"):
        by_channel.rows.append(
            [Cell(str(channel_names.get(channel, channel))), Cell(n, links.members(enrolled_channel__exact=channel))]
        )
    by_source = Table("members_source", "按来源（渠道活码）", ["来源", "会员数"])
    for source, name, n in selectors.members_by_source(scope=board.scope):
        by_source.rows.append([Cell(name), Cell(n, links.members(source=source))])
    stage_names = dict(Member.Lifecycle.choices)
    funnel = Table("members_aipl", "AIPL 漏斗", ["阶段", "当前会员", "到达该阶段", "阶段转化率%"])
    stages = selectors.aipl_funnel(scope=board.scope)
    for stage in stages:
        funnel.rows.append(
            [
                Cell(str(stage_names[stage.stage])),
                Cell(stage.members, links.members(lifecycle_stage__exact=stage.stage)),
                Cell(stage.reached),
                Cell(stage.conversion_pct),
            ]
        )
    tier_names = board.names(Tier)
    tiers = Table("members_tiers", "等级分布", ["等级", "会员数", "占比%"])
    distribution = selectors.tier_distribution(scope=board.scope)
    for tier_id, n in sorted(distribution.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        url = links.members(tier__id__exact=tier_id) if tier_id else links.members(tier__isnull="True")
        tiers.rows.append([Cell(tier_names.get(tier_id, "（无等级）")), Cell(n, url), Cell(pct(n, total))])
    moves = Table("members_tier_moves", "每月等级变动", ["月份", "升级", "降级"])
    monthly = selectors.tier_moves_monthly(scope=board.scope)
    for month, counts in monthly.items():
        moves.rows.append([Cell(f"{month:%Y-%m}"), Cell(counts["up"]), Cell(counts["down"])])
    moves.chart = bar_chart(
        title="每月等级变动",
        labels=[f"{m:%Y-%m}" for m in monthly],
        series=[
            Series("升级", [c["up"] for c in monthly.values()]),
            Series("降级", [c["down"] for c in monthly.values()]),
        ],
    )
    # New members of the range are on the range's cards (with 环比); here what is true now.
    period = board.period
    # Members at the end of the range and of the previous one: the total less those who enrolled
    # after each (the range's new members, and after the range when it ends before today).
    after_end = selectors.members_enrolled_after(scope=board.scope, day=period.end)
    new_members = board.range_figures()[0].new_members
    at_end = change(total - after_end, total - after_end - new_members)
    figures = [
        ("会员总数", Cell(total, links.members(status__in="active,frozen"), at_end)),
        ("已购买会员（P + L）", Cell(stages[2].reached)),
    ]
    note = f"会员总数环比：区间末与上一区间末（{period.previous.end:%Y-%m-%d}）的会员数相比"
    return Section("members", "会员", [new_table, by_channel, by_source, funnel, tiers, moves], figures, note=note)


def points_section(board: Board) -> Section:
    liability = selectors.points_liability(scope=board.scope)
    monthly = selectors.points_monthly(scope=board.scope)
    table = Table("points_monthly", "每月积分", ["月份", "发放", "兑换", "过期"])
    kinds = {"earned": "earn", "redeemed": "redeem", "expired": "expire"}
    for month, flows in monthly.items():
        last = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        dates = {"created_at__date__gte": month.isoformat(), "created_at__date__lte": last.isoformat()}
        table.rows.append(
            [Cell(f"{month:%Y-%m}")]
            + [
                Cell(flows[flow], board.links.changelist(PointsEntry, kind__exact=kinds[flow], **dates))
                for flow in kinds
            ]
        )
    table.chart = bar_chart(
        title="每月积分发放、兑换、过期",
        labels=[f"{m:%Y-%m}" for m in monthly],
        series=[
            Series(name, [f[flow] for f in monthly.values()])
            for flow, name in (("earned", "发放"), ("redeemed", "兑换"), ("expired", "过期"))
        ],
    )
    summary = Table("points_liability", "积分负债", ["项目", "数值"])
    summary.rows = [
        [Cell("未兑换积分（可用 + 待生效）"), Cell(liability.points)],
        [Cell("估算价值（元）"), Cell(yuan(liability.value_fen))],
        [Cell("30 天内到期积分"), Cell(liability.expiring_30d)],
    ]
    figures = [
        ("积分负债", Cell(liability.points)),
        ("估算价值（元）", Cell(yuan(liability.value_fen))),
        ("30 天内到期", Cell(liability.expiring_30d)),
    ]
    return Section("points", "积分", [summary, table], figures)


def consent_section(board: Board) -> Section:
    links = board.links
    total = board.members_total()
    counts = selectors.consent_purposes(scope=board.scope)
    purposes = Table("consent_purposes", "可联系会员（按授权目的）", ["授权目的", "可联系", "占会员%", "待重新同意"])
    for purpose, label in Purpose.choices:
        contactable, stale = counts.get(purpose, (0, 0))
        purposes.rows.append(
            [
                Cell(str(label)),
                Cell(
                    contactable,
                    links.changelist(ConsentState, purpose__exact=purpose, granted__exact=1, needs_reconsent__exact=0),
                ),
                Cell(pct(contactable, total)),
                Cell(stale, links.changelist(ConsentState, purpose__exact=purpose, needs_reconsent__exact=1)),
            ]
        )
    weekly = selectors.withdrawals_weekly(scope=board.scope)
    withdrawals = Table("consent_withdrawals", "每周撤回授权", ["周（周一）", "撤回次数"])
    for week, n in weekly.items():
        withdrawals.rows.append([Cell(week), Cell(n)])
    withdrawals.chart = bar_chart(
        title="每周撤回授权", labels=[f"{w:%m-%d}" for w in weekly], series=[Series("撤回", list(weekly.values()))]
    )
    requests = selectors.data_requests_open(user=board.user, now=board.now)
    stale_total = counts.get("*", (0, 0))[1]
    figures = [
        ("待重新同意会员", Cell(stale_total, links.changelist(ConsentState, needs_reconsent__exact=1))),
        ("待处理个人信息申请", Cell(requests.open, links.changelist(DataRequest, status__exact="pending"))),
        ("已逾期", Cell(requests.overdue, links.changelist(DataRequest, status__exact="pending"))),
    ]
    return Section("consent", "授权（PIPL）", [purposes, withdrawals], figures)


def staff_section(board: Board) -> Section:
    links = board.links
    staff_names, stores = board.names(Staff), board.names(Store)
    table = Table("staff", "导购", ["导购", "门店", "专属会员", "近 12 个月业绩订单", "近 12 个月业绩（元）"])
    year_ago = board.today - dt.timedelta(days=365)
    for row in selectors.staff_rows(scope=board.scope):
        table.rows.append(
            [
                Cell(staff_names.get(row.staff_id, row.staff_id)),
                Cell(stores.get(row.store_id, "")),
                Cell(row.members, links.members(assigned_staff_id__exact=row.staff_id)),
                Cell(
                    row.orders_12m,
                    links.changelist(
                        Attribution,
                        staff__id__exact=row.staff_id,
                        paid_at__date__gte=year_ago.isoformat(),
                        paid_at__date__lte=board.today.isoformat(),
                    ),
                ),
                Cell(yuan(row.gmv_12m_fen)),
            ]
        )
    unowned = selectors.members_unowned(scope=board.scope)
    transfers = selectors.transfers_open(user=board.user)
    figures = [
        ("无专属导购会员", Cell(unowned, links.members(assigned_staff__isnull="True"))),
        ("进行中的客户转接", Cell(transfers, links.changelist(CustomerTransfer, status__in="pending,waiting"))),
    ]
    return Section("staff", "导购", [table], figures)


def campaigns_section(board: Board) -> Section:
    table = Table(
        "campaigns",
        "最近活动场次",
        ["活动", "时间", "目标会员", "对照组", "已发送", "已送达", "赠送积分", "购买会员", "活动 GMV（元）", "提升%"],
    )
    for r in selectors.campaign_results(scope=board.scope):
        lift = None
        if r.holdout and r.holdout_gmv_fen and r.audience:
            base = r.holdout_gmv_fen / r.holdout
            lift = round((r.audience_gmv_fen / r.audience - base) / base * 100, 1)
        table.rows.append(
            [
                Cell(r.campaign_name, board.links.change(Occurrence, r.occurrence_id)),
                Cell(timezone.localtime(r.slot).strftime("%Y-%m-%d %H:%M")),
                Cell(r.audience),
                Cell(r.holdout),
                Cell(r.messages_sent),
                Cell(r.messages_delivered),
                Cell(r.points_awarded),
                Cell(r.audience_buyers),
                Cell(yuan(r.audience_gmv_fen)),
                Cell(lift),
            ]
        )
    return Section("campaigns", "会员活动", [table])


def value_section(board: Board) -> Section:
    tier_names = board.names(Tier)
    columns = ["会员数", "购买会员", "复购会员", "复购率%", "CLV（元，12 个月人均）"]
    by_tier = Table("value_tier", "复购率与 CLV · 按等级", ["等级", *columns])
    for row in selectors.value_by(scope=board.scope, field="tier_id"):
        url = board.links.members(tier__id__exact=row.key) if row.key else board.links.members(tier__isnull="True")
        by_tier.rows.append(
            [
                Cell(tier_names.get(row.key, "（无等级）")),
                Cell(row.members, url),
                Cell(row.buyers),
                Cell(row.repeat_buyers),
                Cell(row.repurchase_pct),
                Cell(yuan(row.clv_fen)),
            ]
        )
    by_cohort = Table("value_cohort", "复购率与 CLV · 按入会季度", ["入会季度", *columns])
    for row in selectors.value_by(scope=board.scope, field="cohort"):
        quarter = f"{row.key.year} Q{(row.key.month - 1) // 3 + 1}"
        last = (row.key.replace(day=1) + dt.timedelta(days=95)).replace(day=1) - dt.timedelta(days=1)
        url = board.links.members(enrolled_at__date__gte=row.key.isoformat(), enrolled_at__date__lte=last.isoformat())
        by_cohort.rows.append(
            [
                Cell(quarter),
                Cell(row.members, url),
                Cell(row.buyers),
                Cell(row.repeat_buyers),
                Cell(row.repurchase_pct),
                Cell(yuan(row.clv_fen)),
            ]
        )
    return Section("value", "复购与客户价值", [by_tier, by_cohort])


SECTIONS: dict[str, Callable[[Board], Section]] = {
    "range": range_section,
    "capture": capture_section,
    "members": members_section,
    "points": points_section,
    "consent": consent_section,
    "staff": staff_section,
    "campaigns": campaigns_section,
    "value": value_section,
}
# Which section builds each exportable table.
TABLE_SECTIONS = {
    "capture_windows": "capture",
    "capture_trend": "capture",
    "capture_channel": "capture",
    "capture_store": "capture",
    "members_new": "members",
    "members_channel": "members",
    "members_source": "members",
    "members_aipl": "members",
    "members_tiers": "members",
    "members_tier_moves": "members",
    "points_liability": "points",
    "points_monthly": "points",
    "consent_purposes": "consent",
    "consent_withdrawals": "consent",
    "staff": "staff",
    "campaigns": "campaigns",
    "value_tier": "value",
    "value_cohort": "value",
}


def dashboard_sections(board: Board) -> list[Section]:
    sections = [build(board) for build in SECTIONS.values()]
    # Campaigns are brand-wide: a store user has no campaign section at all.
    return [s for s in sections if s.key != "campaigns" or board.scope.all_stores]


def dashboard_table(board: Board, key: str) -> Table | None:
    section = TABLE_SECTIONS.get(key)
    if section is None:
        return None
    return next((t for t in SECTIONS[section](board).tables if t.key == key), None)
