"""Reads of one item, one code: reports (scans and claims by SKU, batch, region, dealer and brand
day; members acquired through scans), the diversion digest, and the fraud view."""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from crm.tenancy.zones import brand_zone
from members.models import Member

from .models import Claim, DiversionAlert, Scan

DIMENSIONS: dict[str, str] = {
    "sku": "SKU",
    "batch": "批次",
    "region": "地区（省份）",
    "dealer": "经销商",
    "day": "营业日",
}


@dataclass(frozen=True)
class ReportRow:
    key: str
    scans: int
    claims: int
    points: int
    new_members: int
    diverted: int
    members: int = 0  # distinct members who claimed
    growth: int = 0
    coupons: int = 0


REPORT_COLUMNS = [
    "扫码次数",
    "领取次数",
    "领取会员数",
    "扫码入会",
    "发放积分",
    "发放成长值",
    "发放优惠券",
    "疑似窜货",
]


def report_cells(row: ReportRow) -> list[object]:
    """A row's cells in REPORT_COLUMNS order (the page and the CSV/XLSX files)."""
    return [
        row.scans,
        row.claims,
        row.members,
        row.new_members,
        row.points,
        row.growth,
        row.coupons,
        row.diverted,
    ]


def scan_report(*, by: str, start: dt.date, end: dt.date, members: QuerySet[Member] | None = None) -> list[ReportRow]:
    """Scans and claims per `by` (a DIMENSIONS key) over brand days start..end (inclusive).
    Claims count every claim not voided (pending ones too: their reward is held, not refused);
    members are the distinct members who claimed, new members those who enrolled to claim (the
    platform buyers the brand captured); points, growth value and coupons are what granted claims
    gave. `members`: only claims and scans of these members (a store user's scope; None = the
    whole brand, anonymous scans included)."""
    if by not in DIMENSIONS:
        raise ValueError(by)
    claims = Claim.objects.filter(biz_date__gte=start, biz_date__lte=end).exclude(status=Claim.Status.VOID)
    if members is not None:
        claims = claims.filter(member__in=members)
    claim_key = {
        "sku": "sku",
        "batch": "batch__batch_no",
        "region": "province",
        "dealer": "dealer__name",
        "day": "biz_date",
    }[by]
    granted = Q(status=Claim.Status.GRANTED)
    claimed: dict[str, dict[str, int]] = {
        str(row["k"] or "—"): {name: int(row[name] or 0) for name in ("n", "m", "p", "g", "c", "new", "div")}
        for row in claims.values(k=F(claim_key)).annotate(
            n=Count("id"),
            m=Count("member_id", distinct=True),
            p=Coalesce(Sum("points", filter=granted), 0),
            g=Coalesce(Sum("growth", filter=granted), 0),
            c=Count("coupon_id", filter=granted),
            new=Count("id", filter=Q(new_member=True)),
            div=Count("id", filter=Q(diverted=True)),
        )
    }
    scans = _scan_counts(by=by, start=start, end=end, members=members)
    keys = sorted(set(claimed) | set(scans))
    empty = {"n": 0, "m": 0, "p": 0, "g": 0, "c": 0, "new": 0, "div": 0}
    return [
        ReportRow(
            key=key,
            scans=scans.get(key, 0),
            claims=claimed.get(key, empty)["n"],
            points=claimed.get(key, empty)["p"],
            new_members=claimed.get(key, empty)["new"],
            diverted=claimed.get(key, empty)["div"],
            members=claimed.get(key, empty)["m"],
            growth=claimed.get(key, empty)["g"],
            coupons=claimed.get(key, empty)["c"],
        )
        for key in keys
    ]


def report_totals(*, start: dt.date, end: dt.date, members: QuerySet[Member] | None = None) -> dict[str, int]:
    """The period's claimers as a whole: distinct members, of whom enrolled through a scan (a
    member in two rows of a report is one member here)."""
    claims = Claim.objects.filter(biz_date__gte=start, biz_date__lte=end).exclude(status=Claim.Status.VOID)
    if members is not None:
        claims = claims.filter(member__in=members)
    row = claims.aggregate(
        members=Count("member_id", distinct=True),
        new_members=Count("member_id", distinct=True, filter=Q(new_member=True)),
    )
    return {key: int(value or 0) for key, value in row.items()}


def _scan_counts(*, by: str, start: dt.date, end: dt.date, members: QuerySet[Member] | None) -> dict[str, int]:
    """Scans carry only the serial; SKU, batch and dealer come from the serial's batch/segment."""
    scan, code = Scan._meta.db_table, "scancodes_code"
    batch, segment, dealer = "scancodes_codebatch", "scancodes_segment", "scancodes_dealer"
    key = {
        "sku": "b.sku",
        "batch": "b.batch_no",
        "region": "s.province",
        "dealer": "d.name",
        "day": "s.biz_date::text",
    }[by]
    sql = (
        f"SELECT COALESCE(NULLIF({key}, ''), '—'), count(*) FROM {scan} s "
        f"LEFT JOIN {code} c ON c.serial = s.serial LEFT JOIN {batch} b ON b.id = c.batch_id "
        f"LEFT JOIN {segment} g ON s.serial BETWEEN g.first_serial AND g.last_serial "
        f"LEFT JOIN {dealer} d ON d.id = g.dealer_id "
        "WHERE s.biz_date BETWEEN %s AND %s"
    )
    params: list[Any] = [start, end]
    if members is not None:
        member_sql, member_params = members.values("pk").query.sql_with_params()
        sql += f" AND s.member_id IN ({member_sql})"
        params += list(member_params)
    with connection.cursor() as cursor:
        cursor.execute(sql + " GROUP BY 1", params)
        return {str(k): int(n) for k, n in cursor.fetchall()}


@dataclass(frozen=True)
class DigestLine:
    dealer: str
    expected_region: str
    alerts: int
    cities: str
    # The first and last alert's time of day, brand-local ("09:12–18:40", or one time).
    times: str = ""
    open_alerts: int = 0


def diversion_digest(*, day: dt.date) -> list[DigestLine]:
    """The daily digest of diversion alerts on one brand day, by dealer (most alerts first)."""
    zone = brand_zone()
    rows: dict[tuple[str, str], list[DiversionAlert]] = {}
    for alert in DiversionAlert.objects.filter(biz_date=day).select_related("dealer").order_by("at", "id"):
        rows.setdefault((alert.dealer.name, alert.expected_region), []).append(alert)
    lines = []
    for (dealer, region), alerts in rows.items():
        first, last = (f"{a.at.astimezone(zone):%H:%M}" for a in (alerts[0], alerts[-1]))
        cities = {a.city or a.province or "未知" for a in alerts}
        lines.append(
            DigestLine(
                dealer=dealer,
                expected_region=region,
                alerts=len(alerts),
                cities="、".join(sorted(cities)),
                times=first if first == last else f"{first}–{last}",
                open_alerts=sum(1 for a in alerts if a.status == DiversionAlert.Status.OPEN),
            )
        )
    return sorted(lines, key=lambda line: (-line.alerts, line.dealer))


@dataclass(frozen=True)
class FraudSignal:
    kind: str
    member_id: int
    detail: str
    claims: int


def fraud_signals(
    *,
    start: dt.date,
    end: dt.date,
    many_codes: int = 20,
    bulk_batch: int = 10,
    travel_hours: int = 2,
    members: QuerySet[Member] | None = None,
) -> list[FraudSignal]:
    """Patterns worth a look: one member claiming many codes, one member claiming many codes of
    the same batch, and claims by one member in two provinces within `travel_hours`. `members`:
    only these members' claims (a store user's scope; None = the whole brand)."""
    claims = Claim.objects.filter(biz_date__gte=start, biz_date__lte=end).exclude(status=Claim.Status.VOID)
    scope_sql, scope_params = "", []
    if members is not None:
        claims = claims.filter(member__in=members)
        member_sql, member_params = members.values("pk").query.sql_with_params()
        scope_sql, scope_params = f" AND member_id IN ({member_sql})", list(member_params)
    signals = [
        FraudSignal("many_codes", row["member_id"], f"{row['n']} 个码", row["n"])
        for row in claims.values("member_id").annotate(n=Count("id")).filter(n__gte=many_codes).order_by("-n")
    ]
    signals += [
        FraudSignal("bulk_batch", row["member_id"], f"批次 {row['batch__batch_no']}：{row['n']} 个码", row["n"])
        for row in claims.values("member_id", "batch__batch_no")
        .annotate(n=Count("id"))
        .filter(n__gte=bulk_batch)
        .order_by("-n")
    ]
    table = Claim._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT member_id, prev_province, province, extract(epoch FROM at - prev_at) / 60 FROM ("
            "  SELECT member_id, province, at, lag(province) OVER w AS prev_province, lag(at) OVER w AS prev_at"
            f"  FROM {table} WHERE biz_date BETWEEN %s AND %s AND status <> 'void' AND province <> ''{scope_sql}"
            "  WINDOW w AS (PARTITION BY member_id ORDER BY at)"
            ") t WHERE prev_province IS NOT NULL AND prev_province <> province"
            " AND at - prev_at < make_interval(hours => %s)",
            [start, end, *scope_params, travel_hours],
        )
        signals += [
            FraudSignal("impossible_travel", member_id, f"{before} → {after}，相隔 {int(minutes)} 分钟", 2)
            for member_id, before, after, minutes in cursor.fetchall()
        ]
    return signals


FRAUD_KINDS = {"many_codes": "同一会员大量领码", "bulk_batch": "同批次集中领取", "impossible_travel": "异地瞬移"}
