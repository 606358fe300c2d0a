"""Reads of one item, one code: reports (scans and claims by SKU, batch, region, dealer and brand
day; members acquired through scans), the diversion digest, and the fraud view."""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, Q, Sum

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


def scan_report(*, by: str, start: dt.date, end: dt.date) -> list[ReportRow]:
    """Scans and claims per `by` (a DIMENSIONS key) over brand days start..end (inclusive).
    Claims count every claim not voided; new members are those who enrolled to claim."""
    if by not in DIMENSIONS:
        raise ValueError(by)
    claims = Claim.objects.filter(biz_date__gte=start, biz_date__lte=end).exclude(status=Claim.Status.VOID)
    claim_key = {
        "sku": "sku",
        "batch": "batch__batch_no",
        "region": "province",
        "dealer": "dealer__name",
        "day": "biz_date",
    }[by]
    claimed: dict[str, dict[str, int]] = {
        str(row["k"] or "—"): {"n": row["n"], "p": row["p"] or 0, "new": row["new"], "div": row["div"]}
        for row in claims.values(k=F(claim_key)).annotate(
            n=Count("id"),
            p=Sum("points"),
            new=Count("id", filter=Q(new_member=True)),
            div=Count("id", filter=Q(diverted=True)),
        )
    }
    scans = _scan_counts(by=by, start=start, end=end)
    keys = sorted(set(claimed) | set(scans))
    return [
        ReportRow(
            key=key,
            scans=scans.get(key, 0),
            claims=claimed.get(key, {}).get("n", 0),
            points=claimed.get(key, {}).get("p", 0),
            new_members=claimed.get(key, {}).get("new", 0),
            diverted=claimed.get(key, {}).get("div", 0),
        )
        for key in keys
    ]


def _scan_counts(*, by: str, start: dt.date, end: dt.date) -> dict[str, int]:
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
        "WHERE s.biz_date BETWEEN %s AND %s GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end])
        return {str(k): int(n) for k, n in cursor.fetchall()}


@dataclass(frozen=True)
class DigestLine:
    dealer: str
    expected_region: str
    alerts: int
    cities: str


def diversion_digest(*, day: dt.date) -> list[DigestLine]:
    """The daily digest of diversion alerts on one brand day, by dealer (most alerts first)."""
    rows: dict[tuple[str, str], list[str]] = {}
    for alert in DiversionAlert.objects.filter(biz_date=day).select_related("dealer").order_by("at"):
        rows.setdefault((alert.dealer.name, alert.expected_region), []).append(alert.city or alert.province or "未知")
    lines = [
        DigestLine(dealer=dealer, expected_region=region, alerts=len(cities), cities="、".join(sorted(set(cities))))
        for (dealer, region), cities in rows.items()
    ]
    return sorted(lines, key=lambda line: -line.alerts)


@dataclass(frozen=True)
class FraudSignal:
    kind: str
    member_id: int
    detail: str
    claims: int


def fraud_signals(
    *, start: dt.date, end: dt.date, many_codes: int = 20, bulk_batch: int = 10, travel_hours: int = 2
) -> list[FraudSignal]:
    """Patterns worth a look: one member claiming many codes, one member claiming many codes of
    the same batch, and claims by one member in two provinces within `travel_hours`."""
    claims = Claim.objects.filter(biz_date__gte=start, biz_date__lte=end).exclude(status=Claim.Status.VOID)
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
            f"  FROM {table} WHERE biz_date BETWEEN %s AND %s AND status <> 'void' AND province <> ''"
            "  WINDOW w AS (PARTITION BY member_id ORDER BY at)"
            ") t WHERE prev_province IS NOT NULL AND prev_province <> province"
            " AND at - prev_at < make_interval(hours => %s)",
            [start, end, travel_hours],
        )
        signals += [
            FraudSignal("impossible_travel", member_id, f"{before} → {after}，相隔 {int(minutes)} 分钟", 2)
            for member_id, before, after, minutes in cursor.fetchall()
        ]
    return signals


FRAUD_KINDS = {"many_codes": "同一会员大量领码", "bulk_batch": "同批次集中领取", "impossible_travel": "异地瞬移"}
