"""Writes of one item, one code: batches (generate, export, import, revoke), segments
(activate, revoke), dealers import, scans (verify) and claims (claim, enrol-and-claim, approve,
void). Each public function owns its transaction.

LOCK ORDER of a claim (every claim path takes its locks in this order):
  1. the code row — the conditional UPDATE that makes the first claimant the only one;
  2. the member's claim counters (member, campaign, day / month) — conditional upserts (caps);
  3. the campaign row — the budget's conditional UPDATE, only when the campaign has a budget;
  4. the member row and the ledger (members/services/points.py's own order from its step 1),
     then tags and assignment (members' services).
Approve / void lock the claim row first, then step 3 and 4.
"""

# Raw SQL here names tables from model meta only; every value is a query parameter.
# ruff: noqa: S608

import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from consent.types import ConsentDecision, ConsentEvidence
from crm.api.throttling import window_counts, window_counts_unless_at_limit
from crm.db.arrays import pg_array
from crm.db.functions import sql_function_present
from crm.db.rows import ModelColumns
from crm.errors import AppError, Conflict, NotFound
from crm.redis_cache import cache_counters_get
from crm.tenancy.zones import brand_date, brand_time_shown, brand_zone
from members import error_codes as members_codes
from members.hooks import (
    TagsChanged,
    loyalty_changes_need_transaction,
    tag_changes_need_transaction,
    tags_changed_notify_in_transaction,
)
from members.models import Member, MemberAssignment, PointsEntry, SalesChannel, Staff
from members.services.members import member_assign, member_enroll, member_tags_add
from members.services.points import points_changed_notify

from . import claim_fast, claim_keys, error_codes
from .geo import Place, in_region, place_of_ip
from .imports import code_import_now
from .models import (
    Claim,
    Code,
    CodeBatch,
    CodeExport,
    CodeImport,
    Dealer,
    DiversionAlert,
    Scan,
    ScanCampaign,
    Segment,
    SerialCounter,
)
from .rewards import reward_kind_get

MAX_BATCH = 20_000_000
EXPORT_CHUNK = 50_000


def _invalid(code: str, message: str, field_name: str = "") -> AppError:
    return AppError(code, message, fields={field_name: [message]} if field_name else None)


# --- campaigns and dealers ----------------------------------------------------------------------


_REWARD_FIELD = {"points": "points", "growth": "growth_value", "coupon": "coupon_template"}


def campaign_validate(*, campaign: ScanCampaign) -> None:
    """Refuse a campaign that cannot grant anything: its reward kind's own amount or coupon
    missing (scancodes/rewards.py), or its dates the wrong way round."""
    problem = reward_kind_get(campaign.reward_kind).invalid(campaign)
    if problem:
        raise _invalid(error_codes.CAMPAIGN_INVALID, problem, _REWARD_FIELD.get(campaign.reward_kind, "reward_kind"))
    if campaign.ends_at <= campaign.starts_at:
        raise _invalid(error_codes.CAMPAIGN_INVALID, "结束时间须晚于开始时间。", "ends_at")


def dealers_import(*, content: bytes, actor: str, filename: str = "dealers.csv") -> CodeImport:
    """Dealers from a CSV/XLSX file at once (the admin's upload queues the same import as a job:
    scancodes/imports.py). Each row is created or updated by its code; rows with errors are listed
    on the returned job and write nothing."""
    return code_import_now(kind=CodeImport.Kind.DEALERS, content=content, filename=filename, actor=actor)


# --- batches ------------------------------------------------------------------------------------


def _serials_allocate(quantity: int) -> int:
    """The first of `quantity` fresh serials: the counter row's conditional bump, past any serial
    a printer's import already holds."""
    counter = SerialCounter._meta.db_table
    code = Code._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {counter} (singleton, next_serial) VALUES (true, 100000000001) ON CONFLICT DO NOTHING"
        )
        cursor.execute(
            f"UPDATE {counter} SET next_serial = GREATEST(next_serial, "
            f"COALESCE((SELECT max(serial) + 1 FROM {code}), 0)) + %s RETURNING next_serial - %s",
            [quantity, quantity],
        )
        return int(cursor.fetchone()[0])


def batch_generate(
    *,
    sku: str,
    product_name: str,
    quantity: int,
    actor: str,
    category: str = "",
    exports_allowed: int = 2,
    expires_at: dt.datetime | None = None,
    batch_no: str = "",
) -> CodeBatch:
    """N codes for a SKU in one set-based INSERT (serials only: each secret is derived from the
    batch key, see claim_keys.py)."""
    sku, product_name = (sku or "").strip(), (product_name or "").strip()
    if not sku or not product_name:
        raise _invalid(error_codes.BATCH_INVALID, "SKU 和商品名称必填。", "sku")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_BATCH:
        raise _invalid(error_codes.BATCH_INVALID, f"数量须为 1 到 {MAX_BATCH:,} 之间的整数。", "quantity")
    if not 1 <= exports_allowed <= 10:
        raise _invalid(error_codes.BATCH_INVALID, "允许导出次数须在 1 到 10 之间。", "exports_allowed")
    _key, encrypted = claim_keys.batch_key_new()
    with transaction.atomic():
        first = _serials_allocate(quantity)
        batch = CodeBatch.objects.create(
            batch_no=(batch_no or f"{sku[:20]}-{first}")[:32],
            sku=sku,
            product_name=product_name,
            category=category.strip(),
            quantity=quantity,
            first_serial=first,
            last_serial=first + quantity - 1,
            key_encrypted=encrypted,
            exports_allowed=exports_allowed,
            expires_at=expires_at,
            created_by=actor,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Code._meta.db_table} (serial, batch_id, scan_count, first_city) "
                "SELECT s, %s, 0, '' FROM generate_series(%s::bigint, %s::bigint) AS s",
                [batch.pk, first, first + quantity - 1],
            )
    return batch


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    chunks: Iterator[bytes]


def batch_export(
    *, batch: CodeBatch, fmt: str, actor: str, ip: str | None, user_agent: str, base_url: str
) -> ExportFile:
    """Record one export (a conditional UPDATE of the batch's export count: never more than
    allowed), then stream the codes: serial, claim code and the scan URL for the QR code."""
    if fmt not in ("csv", "zip"):
        raise _invalid(error_codes.BATCH_INVALID, "导出格式须为 CSV 或 ZIP。", "fmt")
    with transaction.atomic():
        updated = CodeBatch.objects.filter(
            pk=batch.pk,
            origin=CodeBatch.Origin.GENERATED,
            exports_used__lt=F("exports_allowed"),
            status__in=[CodeBatch.Status.GENERATED, CodeBatch.Status.EXPORTED, CodeBatch.Status.ACTIVATED],
        ).update(exports_used=F("exports_used") + 1)
        if not updated:
            batch.refresh_from_db()
            if batch.origin != CodeBatch.Origin.GENERATED:
                raise AppError(error_codes.BATCH_STATE_INVALID, "印刷厂导入的批次没有可导出的验证码。", status=409)
            if batch.status == CodeBatch.Status.REVOKED:
                raise AppError(error_codes.BATCH_STATE_INVALID, "已作废的批次不能导出。", status=409)
            raise Conflict(
                error_codes.BATCH_EXPORT_EXHAUSTED,
                f"批次 {batch.batch_no} 已导出 {batch.exports_used} 次，达到允许的上限。",
            )
        CodeBatch.objects.filter(pk=batch.pk, status=CodeBatch.Status.GENERATED).update(
            status=CodeBatch.Status.EXPORTED
        )
        batch.refresh_from_db()
        CodeExport.objects.create(
            batch=batch, seq=batch.exports_used, fmt=fmt, actor=actor, ip=ip or None, user_agent=user_agent[:255]
        )
    key = claim_keys.batch_key_open(batch.key_encrypted)
    assert batch.first_serial is not None and batch.last_serial is not None
    rows = _export_rows(key=key, first=batch.first_serial, last=batch.last_serial, base_url=base_url.rstrip("/"))
    name = f"codes-{batch.batch_no}-{batch.exports_used}"
    if fmt == "csv":
        return ExportFile(f"{name}.csv", "text/csv; charset=utf-8", rows)
    return ExportFile(f"{name}.zip", "application/zip", _zipped(f"{name}.csv", rows))


def _export_rows(*, key: bytes, first: int, last: int, base_url: str) -> Iterator[bytes]:
    yield "\ufeff序列号,验证码,扫码链接\n".encode()
    secret_for = claim_keys.secret_function(key)
    for start in range(first, last + 1, EXPORT_CHUNK):
        stop = min(start + EXPORT_CHUNK, last + 1)
        yield "".join(
            f"{serial},{secret},{base_url}/s/{serial}?k={secret}\n"
            for serial, secret in ((s, secret_for(s)) for s in range(start, stop))
        ).encode()


class _Sink(io.RawIOBase):
    """An unseekable file that hands out what was written (zipfile streams into it)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _zipped(inner_name: str, rows: Iterator[bytes]) -> Iterator[bytes]:
    sink = _Sink()
    with (
        zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(inner_name, "w", force_zip64=True) as member,
    ):
        for chunk in rows:
            member.write(chunk)
            yield sink.take()
    yield sink.take()


def batch_import(
    *, content: bytes, filename: str, sku: str, product_name: str, actor: str, category: str = "", note: str = ""
) -> CodeBatch:
    """A printer's own codes (CSV/XLSX: serial,secret) at once; the admin's upload queues the same
    import as a job (scancodes/imports.py). Secrets are stored as keyed hashes only; the file's name
    and SHA-256 are kept. All or nothing: AppError(import_invalid) naming the first bad rows."""
    job = code_import_now(
        kind=CodeImport.Kind.CODES,
        content=content,
        filename=filename,
        actor=actor,
        options={"sku": sku, "product_name": product_name, "category": category, "note": note},
    )
    if job.batch is None:
        lines = "；".join(f"第 {e['line']} 行：{e['message']}" for e in job.row_errors[:5])
        raise _invalid(error_codes.IMPORT_INVALID, f"{job.error}{lines}")
    return job.batch


def batch_revoke(*, batch: CodeBatch, actor: str) -> CodeBatch:
    """Revoke the whole batch: none of its codes grants anything any more."""
    now = timezone.now()
    with transaction.atomic():
        CodeBatch.objects.filter(pk=batch.pk).update(status=CodeBatch.Status.REVOKED, revoked_at=now)
        Segment.objects.filter(batch=batch).exclude(status=Segment.Status.REVOKED).update(
            status=Segment.Status.REVOKED, revoked_at=now
        )
    batch.refresh_from_db()
    return batch


# --- segments and activation --------------------------------------------------------------------


def segment_create(
    *,
    batch: CodeBatch,
    first_serial: int,
    last_serial: int,
    actor: str,
    lot: str = "",
    production_date: dt.date | None = None,
    region_name: str = "",
    dealer: Dealer | None = None,
    campaign: ScanCampaign | None = None,
    activate: bool = False,
    active_from: dt.datetime | None = None,
) -> Segment:
    """Bind a serial range of the batch to its lot, region, dealer and campaign; optionally
    activate it at once or from `active_from` (scheduled: nothing runs later, a scan checks it)."""
    if batch.first_serial is None or batch.last_serial is None:
        raise _invalid(error_codes.SEGMENT_INVALID, "该批次没有序列号。")
    if not batch.first_serial <= first_serial <= last_serial <= batch.last_serial:
        raise _invalid(
            error_codes.SEGMENT_INVALID,
            f"码段须在批次范围 {batch.first_serial}–{batch.last_serial} 内，且起始不大于结束。",
            "first_serial",
        )
    if batch.status == CodeBatch.Status.REVOKED:
        raise AppError(error_codes.BATCH_STATE_INVALID, "已作废的批次不能再划分码段。", status=409)
    if campaign is not None:
        campaign_validate(campaign=campaign)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                batch=batch,
                first_serial=first_serial,
                last_serial=last_serial,
                lot=lot.strip(),
                production_date=production_date,
                region_name=region_name.strip() or (dealer.region_name if dealer else ""),
                dealer=dealer,
                campaign=campaign,
            )
            if activate:
                segment_activate(segment=segment, actor=actor, active_from=active_from)
    except IntegrityError as exc:
        raise _invalid(error_codes.SEGMENT_INVALID, "该序列号范围与已有码段重叠。", "first_serial") from exc
    segment.refresh_from_db()
    return segment


def segment_activate(*, segment: Segment, actor: str, active_from: dt.datetime | None = None) -> Segment:
    with transaction.atomic():
        updated = Segment.objects.filter(pk=segment.pk, status=Segment.Status.INACTIVE).update(
            status=Segment.Status.ACTIVE, active_from=active_from or timezone.now(), activated_by=actor
        )
        if not updated:
            raise AppError(error_codes.SEGMENT_INVALID, "只有未激活的码段可以激活。", status=409)
        CodeBatch.objects.filter(
            pk=segment.batch_id, status__in=[CodeBatch.Status.GENERATED, CodeBatch.Status.EXPORTED]
        ).update(status=CodeBatch.Status.ACTIVATED)
    segment.refresh_from_db()
    return segment


def segment_revoke(*, segment: Segment, actor: str) -> Segment:
    Segment.objects.filter(pk=segment.pk).exclude(status=Segment.Status.REVOKED).update(
        status=Segment.Status.REVOKED, revoked_at=timezone.now(), activated_by=actor
    )
    segment.refresh_from_db()
    return segment


# --- scanning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanContext:
    """Where a scan comes from. `latitude`/`longitude` are kept only with `precise_consent`."""

    ip: str | None = None
    user_agent: str = ""
    channel: str = "h5"
    precise_consent: bool = False
    latitude: float | None = None
    longitude: float | None = None
    place: Place = field(default_factory=Place)

    @property
    def device(self) -> str:
        return hashlib.sha256(self.user_agent.encode()).hexdigest()[:16] if self.user_agent else ""


def scan_context(**kwargs: object) -> ScanContext:
    ctx = ScanContext(**kwargs)  # type: ignore[arg-type]
    return ScanContext(**{**ctx.__dict__, "place": place_of_ip(ctx.ip)})


@dataclass(frozen=True)
class Authenticity:
    serial: int
    sku: str
    product_name: str
    batch_no: str
    lot: str
    production_date: dt.date | None
    first_scanned_at: dt.datetime | None
    first_city: str
    scan_count: int
    state: str  # active / not_active / revoked / expired
    claimed: bool

    @property
    def summary(self) -> str:
        when = brand_time_shown(self.first_scanned_at)
        return f"首次验证于 {when} {self.first_city or '未知地区'}，已被扫描 {self.scan_count} 次"


def _limits() -> tuple[int, int, int]:
    return (
        int(getattr(settings, "SCANCODES_FAILURES_PER_IP", 10)),
        int(getattr(settings, "SCANCODES_FAILURES_PER_SERIAL", 5)),
        int(getattr(settings, "SCANCODES_FAILURE_WINDOW_SECONDS", 900)),
    )


def _failure_keys(serial: int, ip: str | None) -> tuple[str, str]:
    return f"scancodes:fail:ip:{ip or '-'}", f"scancodes:fail:serial:{serial}"


def _rate_limit_check(serial: int, ctx: ScanContext) -> None:
    per_ip, per_serial, _window = _limits()
    ip_failures, serial_failures = cache_counters_get(list(_failure_keys(serial, ctx.ip)))
    if ip_failures >= per_ip or serial_failures >= per_serial:
        _rate_limited(serial, ctx)


def _rate_limited(serial: int, ctx: ScanContext) -> NoReturn:
    """Refuse: too many wrong secrets from this IP or for this serial (logged as a scan)."""
    window = _limits()[2]
    _scan_log(serial=serial, outcome=Scan.Outcome.LIMITED, ctx=ctx)
    raise AppError(
        error_codes.RATE_LIMITED,
        f"验证码错误次数过多，请 {window} 秒后再试。",
        status=429,
        extra={"retry_after": window, "headers": {"Retry-After": str(window)}},
    )


def _rate_limit_fail(serial: int, ctx: ScanContext) -> None:
    _, _, window = _limits()
    window_counts(list(_failure_keys(serial, ctx.ip)), timeout=window)


def _scan_log(*, serial: int, outcome: str, ctx: ScanContext, member_id: int | None = None) -> None:
    now = timezone.now()
    precise = ctx.precise_consent and ctx.latitude is not None and ctx.longitude is not None
    Scan.objects.create(
        serial=serial,
        at=now,
        biz_date=brand_date(now),
        outcome=outcome,
        member_id=member_id,
        ip=ctx.ip or None,
        device=ctx.device,
        province=ctx.place.province,
        city=ctx.place.city,
        precise_consent=ctx.precise_consent,
        latitude=round(ctx.latitude, 6) if precise and ctx.latitude is not None else None,
        longitude=round(ctx.longitude, 6) if precise and ctx.longitude is not None else None,
        channel=ctx.channel[:16],
    )


_CODE = ModelColumns(Code, "c")
_BATCH = ModelColumns(CodeBatch, "b")
_SEGMENT = ModelColumns(Segment, "s")
_CAMPAIGN = ModelColumns(ScanCampaign, "k")
_DEALER = ModelColumns(Dealer, "d")
# A code with its batch, and the segment holding its serial with the segment's campaign and
# dealer: one round trip, read by every scan and claim (before the secret is checked: reads only).
_CODE_READ = f"""
    SELECT {_CODE.columns}, {_BATCH.columns}, {_SEGMENT.columns}, {_CAMPAIGN.columns}, {_DEALER.columns}
    FROM {Code._meta.db_table} c JOIN {CodeBatch._meta.db_table} b ON b.id = c.batch_id
    LEFT JOIN LATERAL (
        SELECT * FROM {Segment._meta.db_table} s0 WHERE s0.first_serial <= c.serial AND s0.last_serial >= c.serial
        ORDER BY s0.first_serial LIMIT 1
    ) s ON true
    LEFT JOIN {ScanCampaign._meta.db_table} k ON k.id = s.campaign_id
    LEFT JOIN {Dealer._meta.db_table} d ON d.id = s.dealer_id
    WHERE c.serial = %s
"""


def _code_read(serial: int) -> tuple[Code, CodeBatch, Segment | None] | None:
    with connection.cursor() as cursor:
        cursor.execute(_CODE_READ, [serial])
        row = cursor.fetchone()
    return _code_built(row)


def _code_built(row: Sequence[Any] | None) -> tuple[Code, CodeBatch, Segment | None] | None:
    """The code, its batch and segment from a row of _CODE_READ's columns (None: no such code)."""
    if row is None or row[0] is None:
        return None
    parts = []
    start = 0
    for columns in (_CODE, _BATCH, _SEGMENT, _CAMPAIGN, _DEALER):
        parts.append(row[start : start + len(columns)])
        start += len(columns)
    code, batch = _CODE.build(parts[0]), _BATCH.build(parts[1])
    code.batch = batch
    segment = None
    if parts[2][0] is not None:
        segment = _SEGMENT.build(parts[2])
        segment.batch = batch
        segment.campaign = _CAMPAIGN.build(parts[3]) if parts[3][0] is not None else None
        segment.dealer = _DEALER.build(parts[4]) if parts[4][0] is not None else None
    return code, batch, segment


_MEMBER = ModelColumns(Member, "m")
# The member a partner names by number and the code (as _CODE_READ), in one round trip: either may
# be missing (their columns are then NULL).
_MEMBER_AND_CODE_READ = f"""
    SELECT {_MEMBER.columns}, r.* FROM (SELECT 1) AS one
    LEFT JOIN {Member._meta.db_table} m ON m.member_no = %s
    LEFT JOIN LATERAL ({_CODE_READ}) r ON true
"""


def _member_and_code_read(
    member_no: str, serial: int
) -> tuple[Member | None, tuple[Code, CodeBatch, Segment | None] | None]:
    with connection.cursor() as cursor:
        cursor.execute(_MEMBER_AND_CODE_READ, [member_no, serial])
        row = cursor.fetchone()
    size = len(_MEMBER)
    member = _MEMBER.build(row[:size]) if row[0] is not None else None
    return member, _code_built(row[size:])


_UNREAD: Any = object()


def _code_checked(
    serial: int,
    secret: str,
    ctx: ScanContext,
    found: tuple[Code, CodeBatch, Segment | None] | None = _UNREAD,
    *,
    limit_later: bool = False,
) -> tuple[Code, CodeBatch, Segment | None]:
    """The code behind a serial and claim secret (with its batch, and the segment holding it), or
    a refusal. Every wrong secret (and unknown serial) counts against the scanner's IP and the
    serial; past the limit all are refused. `found`: the code as the caller already read it.
    `limit_later`: the code was read, and a code found with its secret right is returned before
    the limit is checked — the caller checks it (code_claim: in the same Redis step as the claim's
    risk counts); a refusal still checks it first, as without."""
    if not limit_later:
        _rate_limit_check(serial, ctx)
    if found is _UNREAD:
        found = _code_read(serial)
    if found is None:
        if limit_later:
            _rate_limit_check(serial, ctx)
        _rate_limit_fail(serial, ctx)
        raise NotFound(error_codes.CODE_UNKNOWN, "未找到该防伪码，请核对后重试。")
    code, batch, segment = found
    if code.secret_hash is not None:
        ok = claim_keys.secret_matches_imported(bytes(code.secret_hash), serial, secret)
    else:
        ok = claim_keys.secret_matches_generated(claim_keys.batch_key_open(batch.key_encrypted), serial, secret)
    if not ok:
        if limit_later:
            _rate_limit_check(serial, ctx)
        _rate_limit_fail(serial, ctx)
        _scan_log(serial=serial, outcome=Scan.Outcome.BAD_SECRET, ctx=ctx)
        raise AppError(error_codes.SECRET_INVALID, "验证码不正确，请核对刮开的验证码。", status=403)
    return code, batch, segment


def _segment_of(serial: int) -> Segment | None:
    return (
        Segment.objects.filter(first_serial__lte=serial, last_serial__gte=serial)
        .select_related("campaign", "dealer")
        .first()
    )


def _state(batch: CodeBatch, segment: Segment | None, now: dt.datetime) -> str:
    if batch.status == CodeBatch.Status.REVOKED or (segment is not None and segment.status == Segment.Status.REVOKED):
        return "revoked"
    if batch.expires_at is not None and batch.expires_at <= now:
        return "expired"
    if segment is None or segment.status != Segment.Status.ACTIVE:
        return "not_active"
    if segment.active_from is not None and segment.active_from > now:
        return "not_active"
    return "active"


_STATE_REFUSALS = {
    "not_active": (error_codes.CODE_NOT_ACTIVE, "该码尚未激活，暂不能领取奖励。", Scan.Outcome.NOT_ACTIVE),
    "revoked": (error_codes.CODE_REVOKED, "该码已作废，不能领取奖励。", Scan.Outcome.REVOKED),
    "expired": (error_codes.CODE_EXPIRED, "该码已过期，不能领取奖励。", Scan.Outcome.EXPIRED),
}


def code_verify(*, serial: int, secret: str, ctx: ScanContext) -> Authenticity:
    """The consumer's authenticity check: counts the scan (the first one records when and in
    which city), logs it, and tells the product and the code's state. Grants nothing."""
    _code, batch, segment = _code_checked(serial, secret, ctx)
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Code._meta.db_table} SET scan_count = scan_count + 1, "
                "first_city = CASE WHEN first_scanned_at IS NULL THEN %s ELSE first_city END, "
                "first_scanned_at = COALESCE(first_scanned_at, %s) "
                "WHERE serial = %s RETURNING scan_count, first_scanned_at, first_city, claimed_member_id",
                [ctx.place.label if ctx.place.known else "", now, serial],
            )
            count, first_at, first_city, claimed_by = cursor.fetchone()
        _scan_log(serial=serial, outcome=Scan.Outcome.VERIFIED, ctx=ctx)
    return Authenticity(
        serial=serial,
        sku=batch.sku,
        product_name=batch.product_name,
        batch_no=batch.batch_no,
        lot=segment.lot if segment else "",
        production_date=segment.production_date if segment else None,
        first_scanned_at=first_at,
        first_city=first_city,
        scan_count=count,
        state=_state(batch, segment, now),
        claimed=claimed_by is not None,
    )


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    created: bool  # False: the same member's claim, returned again (a retried request)

    @property
    def message(self) -> str:
        claim = self.claim
        if claim.status == Claim.Status.PENDING:
            return "领取成功，奖励正在审核，审核通过后到账。"
        if claim.points:
            return f"领取成功，获得 {claim.points} 积分。"
        if claim.reward_kind == ScanCampaign.RewardKind.GROWTH:
            if claim.growth:
                return f"领取成功，获得 {claim.growth} 成长值。"
            return "领取成功。本月活动成长值已达上限，本次未获得成长值。"
        if claim.coupon_id is not None and claim.coupon is not None:
            return f"领取成功，获得优惠券「{claim.coupon.template.name}」1 张，可在会员中心“我的优惠券”查看。"
        return "领取成功。"


def code_claim_by_number(
    *, serial: int, secret: str, member_no: str, ctx: ScanContext, count_scan: bool = False
) -> tuple[Member, ClaimResult]:
    """`code_claim` for the member a partner names by number, read with the code in one round
    trip; NotFound (member_not_found) when no member has the number, before anything else."""
    member, found = _member_and_code_read(member_no, serial)
    if member is None:
        raise NotFound(members_codes.MEMBER_NOT_FOUND, f"会员 {member_no} 不存在。")
    return member, code_claim(serial=serial, secret=secret, member=member, ctx=ctx, count_scan=count_scan, found=found)


def code_claim(
    *,
    serial: int,
    secret: str,
    member: Member,
    ctx: ScanContext,
    count_scan: bool = False,
    new_member: bool = False,
    found: tuple[Code, CodeBatch, Segment | None] | None = _UNREAD,
) -> ClaimResult:
    """The member claims the code's reward. The first claimant wins in one conditional UPDATE;
    every other gets `already claimed` (the same member again gets their own claim back). A code
    that is not active, revoked or expired grants nothing. Every attempt is logged as a scan,
    including refusals (after the claim's savepoint rolled back).

    The common case (a points campaign; no flag, diversion or owner to assign; caps and budget
    not reached) is one statement (scancodes/claim_fast.py); anything else, and any refusal,
    takes the ORM path below, which writes the same rows. `found`: the code as the caller already
    read it (code_claim_by_number)."""
    # A code read with the member (code_claim_by_number) has its wrong-secret limit checked by the
    # fast path in the Redis step that counts the claim's risk (one round trip, not two), or here.
    limit_later = found is not _UNREAD and not new_member
    code, batch, segment = _code_checked(serial, secret, ctx, found, limit_later=limit_later)
    counted: list[int] | None = None  # the IP's and device's claims this hour, this one included
    if not new_member:
        fast, counted = _claim_fast(
            code=code, batch=batch, segment=segment, member=member, ctx=ctx, count_scan=count_scan
        )
        if fast is not None:
            return fast
    if limit_later and counted is None:  # the fast path did not check it
        _rate_limit_check(serial, ctx)
    try:
        with transaction.atomic():
            result = _claim_in_transaction(
                code=code,
                batch=batch,
                member=member,
                ctx=ctx,
                count_scan=count_scan,
                new_member=new_member,
                risk_counts=counted,
            )
    except AppError as exc:
        _scan_log(serial=serial, outcome=_outcome_of(exc), ctx=ctx, member_id=member.pk)
        raise
    return result


def _claim_fast(
    *, code: Code, batch: CodeBatch, segment: Segment | None, member: Member, ctx: ScanContext, count_scan: bool
) -> tuple[ClaimResult | None, list[int] | None]:
    """The common claim in one statement (scancodes/claim_fast.py), or None when it is not the
    common case or the statement found it was not (nothing written then): the caller takes the
    ORM path. Decided from what is read anyway: the segment with its campaign and dealer, the
    member, and the IP's and device's claims this hour — counted with this one first, in one
    Redis step as the ORM path's _risk counts them, so that a burst of parallel claims cannot all
    read a count under the limit. Those counts go with the answer: the ORM path, when it takes
    over, decides on them instead of counting the claim a second time."""
    if not settings.SCANCODES_CLAIM_FAST or not sql_function_present(claim_fast.FUNCTION_NAME):
        return None, None
    now = timezone.now()
    serial = code.serial
    if segment is None or _state(batch, segment, now) != "active":
        return None, None
    campaign = segment.campaign
    if (
        campaign is None
        or campaign.reward_kind != ScanCampaign.RewardKind.POINTS
        or not campaign.starts_at <= now < campaign.ends_at
        or 0 in (campaign.cap_member_day, campaign.cap_member_month)
    ):
        return None, None
    if member.status != Member.Status.ACTIVE or member.merged_into_id is not None:
        return None, None
    units = campaign.units_for(batch.sku)
    if units <= 0:
        return None, None
    dealer = segment.dealer
    if dealer is not None:
        if in_region(ctx.place, list(dealer.region_areas)) is False:
            return None, None  # diverted: the alert is the ORM path's
        if dealer.store_id is not None and dealer.assign_owner and member.assigned_staff_id is None:
            return None, None  # an owner to assign
    per_ip, per_serial, _window = _limits()
    ip_key, serial_key = _failure_keys(serial, ctx.ip)
    # Unless the wrong-secret limit is reached (then nothing is counted: refused, as before the
    # code was read), this claim counted in the IP's and device's claims this hour: one round trip.
    counted = window_counts_unless_at_limit(
        {ip_key: per_ip, serial_key: per_serial}, [key for _label, key in _risk_keys(ctx)], timeout=3600
    )
    if counted is None:
        _rate_limited(serial, ctx)
    if any(count > campaign.risky_claims_per_hour for count in counted):
        return None, counted  # this claim is held for review: the ORM path holds it
    biz_day = brand_date(now)
    precise = ctx.precise_consent and ctx.latitude is not None and ctx.longitude is not None
    place = ctx.place
    params: list[Any] = [
        serial,
        member.pk,
        now,
        biz_day,
        count_scan,
        place.label if place.known else "",
        batch.pk,
        segment.pk,
        campaign.pk,
        dealer.pk if dealer is not None else None,
        batch.sku,
        units,
        campaign.cap_member_day,
        campaign.cap_member_month,
        campaign.budget_points is not None,
        place.province,
        place.city,
        ctx.ip or None,
        ctx.device,
        f"扫码领取：{batch.product_name}",
        brand_zone().key,
        pg_array(sorted(set(_tag_names(batch, segment, campaign)))),
        TAG_GROUP,
        ctx.precise_consent,
        round(ctx.latitude, 6) if precise and ctx.latitude is not None else None,
        round(ctx.longitude, 6) if precise and ctx.longitude is not None else None,
        ctx.channel[:16],
    ]
    # The statement alone is atomic: in autocommit (no BEGIN and COMMIT round trips) when no hook
    # handler would write beside it (no webhook wants the points change; WeCom only queues its
    # mirroring after the commit: crm/hooks.py); else in the caller's transaction, or one of its own.
    if connection.in_atomic_block or loyalty_changes_need_transaction() or tag_changes_need_transaction():
        with transaction.atomic(savepoint=False):
            answer = _claim_statement(params, member)
    else:
        answer = _claim_statement(params, member)
    if answer is None:
        return None, counted
    claim = Claim(
        pk=answer,
        **_claim_fields(
            serial=serial, member=member, batch=batch, segment=segment, campaign=campaign, units=units, now=now, ctx=ctx
        ),
    )
    claim._state.adding = False
    return ClaimResult(claim=claim, created=True), counted


def _claim_statement(params: list[Any], member: Member) -> int | None:
    """scancodes_claim_fast(), and the hooks told what the ORM services tell them, from the
    function's answer; the claim's id, or None when the ORM path must decide."""
    with connection.cursor() as cursor:
        cursor.execute(claim_fast.CALL_SQL, params)
        outcome, claim_id, b0, p0, d0, b1, p1, d1, tier_id, tags_added = cursor.fetchone()
    if outcome != "ok":
        return None
    member.points_balance, member.points_pending, member.points_debt, member.tier_id = b1, p1, d1, tier_id
    points_changed_notify(member=member, kind=PointsEntry.Kind.BONUS, before=(b0, p0, d0))
    for tag_id in tags_added:
        tags_changed_notify_in_transaction(TagsChanged(member_ids=(member.pk,), tag_id=tag_id, added=True))
    return int(claim_id)


def _claim_fields(
    *,
    serial: int,
    member: Member,
    batch: CodeBatch,
    segment: Segment,
    campaign: ScanCampaign | None,
    units: int,
    now: dt.datetime,
    ctx: ScanContext,
    pending_reason: str = "",
    diverted: bool = False,
    new_member: bool = False,
) -> dict[str, Any]:
    """The claim row's fields (both paths: the fast path's answer is built as the row it wrote)."""
    kind = campaign.reward_kind if campaign is not None else ""
    return {
        "code_id": serial,
        "member": member,
        "batch": batch,
        "segment": segment,
        "campaign": campaign,
        "dealer": segment.dealer,
        "sku": batch.sku,
        "status": Claim.Status.PENDING if pending_reason else Claim.Status.GRANTED,
        "reward_kind": kind,
        "points": units if kind == ScanCampaign.RewardKind.POINTS else 0,
        "growth": units if kind == ScanCampaign.RewardKind.GROWTH else 0,
        "pending_reason": pending_reason,
        "at": now,
        "biz_date": brand_date(now),
        "province": ctx.place.province,
        "city": ctx.place.city,
        "ip": ctx.ip or None,
        "device": ctx.device,
        "diverted": diverted,
        "new_member": new_member,
    }


def _outcome_of(exc: AppError) -> str:
    for code, _message, outcome in _STATE_REFUSALS.values():
        if exc.code == code:
            return outcome
    return Scan.Outcome.ALREADY if exc.code == error_codes.ALREADY_CLAIMED else Scan.Outcome.REFUSED


def _claim_in_transaction(
    *,
    code: Code,
    batch: CodeBatch,
    member: Member,
    ctx: ScanContext,
    count_scan: bool,
    new_member: bool,
    risk_counts: list[int] | None = None,
) -> ClaimResult:
    now = timezone.now()
    serial = code.serial
    segment = _segment_of(serial)
    state = _state(batch, segment, now)
    if state != "active":
        code_name, message, _outcome = _STATE_REFUSALS[state]
        raise AppError(code_name, message, status=409)
    assert segment is not None
    if member.status != Member.Status.ACTIVE or member.merged_into_id is not None:
        raise AppError(error_codes.MEMBER_NOT_ELIGIBLE, "该会员当前不能领取奖励（已冻结、删除或合并）。", status=409)
    campaign = segment.campaign
    if campaign is not None and not campaign.starts_at <= now < campaign.ends_at:
        raise AppError(error_codes.CAMPAIGN_CLOSED, "扫码活动不在有效期内，暂不能领取奖励。", status=409)

    # Lock step 1: the first claimant wins here; everyone after finds the row claimed.
    label = ctx.place.label if ctx.place.known else ""
    won = Code.objects.filter(serial=serial, claimed_member__isnull=True).update(
        claimed_member=member,
        claimed_at=now,
        scan_count=F("scan_count") + (1 if count_scan else 0),
    )
    if not won:
        existing = Claim.objects.filter(code_id=serial).first()
        if existing is not None and existing.member_id == member.pk:
            return ClaimResult(claim=existing, created=False)
        raise Conflict(error_codes.ALREADY_CLAIMED, "该码已被领取，每个码只能领取一次。")
    if count_scan:
        Code.objects.filter(serial=serial, first_scanned_at__isnull=True).update(first_scanned_at=now, first_city=label)

    biz_day = brand_date(now)
    units = campaign.units_for(batch.sku) if campaign is not None else 0
    if campaign is not None:
        _caps_take(member=member, campaign=campaign, day=biz_day)  # lock step 2
        budgeted = campaign.budget_points is not None and units  # lock step 3
        if budgeted and not ScanCampaign.objects.filter(
            pk=campaign.pk, spent_points__lte=F("budget_points") - units
        ).update(spent_points=F("spent_points") + units):
            raise Conflict(error_codes.BUDGET_EXHAUSTED, "本次活动奖励已发完。")
    pending_reason = _risk(campaign=campaign, ctx=ctx, counts=risk_counts)
    dealer = segment.dealer
    diverted = dealer is not None and in_region(ctx.place, list(dealer.region_areas)) is False
    claim = Claim.objects.create(
        **_claim_fields(
            serial=serial,
            member=member,
            batch=batch,
            segment=segment,
            campaign=campaign,
            units=units,
            now=now,
            ctx=ctx,
            pending_reason=pending_reason,
            diverted=diverted,
            new_member=new_member,
        )
    )
    if diverted and dealer is not None:
        DiversionAlert.objects.create(
            claim=claim,
            dealer=dealer,
            expected_region=dealer.region_name or "、".join(dealer.region_areas),
            province=ctx.place.province,
            city=ctx.place.city,
            at=now,
            biz_date=biz_day,
        )
    if claim.status == Claim.Status.GRANTED:
        _reward_grant(claim=claim, member=member, product_name=batch.product_name)
    _member_follow_up(claim=claim, member=member, segment=segment, batch=batch)
    _scan_log(
        serial=serial,
        outcome=Scan.Outcome.PENDING if pending_reason else Scan.Outcome.CLAIMED,
        ctx=ctx,
        member_id=member.pk,
    )
    return ClaimResult(claim=claim, created=True)


def _caps_take(*, member: Member, campaign: ScanCampaign, day: dt.date) -> None:
    """Count the claim against the member's daily and monthly caps: a conditional upsert per
    period whose returned row says whether the cap still had room."""
    table = "scancodes_claimcounter"
    for period, starts, cap, label in (
        ("d", day, campaign.cap_member_day, "每日"),
        ("m", day.replace(day=1), campaign.cap_member_month, "每月"),
    ):
        if cap is None:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS c (member_id, campaign_id, period, starts, claims) "
                "VALUES (%s, %s, %s, %s, 1) ON CONFLICT (member_id, campaign_id, period, starts) "
                "DO UPDATE SET claims = c.claims + 1 WHERE c.claims < %s RETURNING claims",
                [member.pk, campaign.pk, period, starts, cap],
            )
            if cursor.fetchone() is None or cap == 0:
                raise AppError(
                    error_codes.CAP_REACHED,
                    f"已达到扫码领奖上限（{label} {cap} 次），请改日再来。",
                    status=409,
                    extra={"period": label},
                )


def _risk_keys(ctx: ScanContext) -> list[tuple[str, str]]:
    """(label, counter key) of this hour's claims from the scanner's IP and device."""
    hour = timezone.now().strftime("%Y%m%d%H")
    return [
        (label, f"scancodes:claims:{label}:{value}:{hour}")
        for label, value in (("IP", ctx.ip), ("设备", ctx.device))
        if value
    ]


def _risk(*, campaign: ScanCampaign | None, ctx: ScanContext, counts: list[int] | None = None) -> str:
    """Why this claim should wait for review: many claims from one IP or device within the hour.
    `counts`: this claim already counted (by the fast path), else counted here."""
    limit = campaign.risky_claims_per_hour if campaign is not None else 20
    keys = _risk_keys(ctx)
    if counts is None:
        counts = window_counts([key for _label, key in keys], timeout=3600)  # one Redis round trip
    return "；".join(
        f"同一{label}一小时内领取超过 {limit} 次"
        for (label, _key), count in zip(keys, counts, strict=True)
        if count > limit
    )


def _reward_grant(*, claim: Claim, member: Member, product_name: str) -> None:
    """Grant the claim's reward through its kind's service (scancodes/rewards.py) and keep on the
    claim what was granted: growth value may be less than planned (the month's activity cap),
    and the part not granted goes back to the campaign's budget; a coupon is linked."""
    if claim.campaign is None or not claim.reward_kind:
        return
    granted = reward_kind_get(claim.reward_kind).grant(claim, member, f"扫码领取：{product_name}")
    changes: dict[str, object] = {}
    if claim.reward_kind == ScanCampaign.RewardKind.GROWTH and granted.growth != claim.growth:
        unspent = claim.growth - granted.growth
        if unspent > 0 and claim.campaign.budget_points is not None:
            ScanCampaign.objects.filter(pk=claim.campaign.pk).update(spent_points=F("spent_points") - unspent)
        changes["growth"] = claim.growth = granted.growth
    if granted.coupon is not None:
        claim.coupon = granted.coupon
        changes["coupon"] = granted.coupon
    if changes:
        Claim.objects.filter(pk=claim.pk).update(**changes)


TAG_GROUP = "一物一码"


def _tag_names(batch: CodeBatch, segment: Segment, campaign: ScanCampaign | None) -> list[str]:
    """The tags a claim gives its member: category or SKU, dealer, region, campaign."""
    names = [f"扫码·{batch.category or batch.sku}"]
    if segment.dealer is not None:
        names.append(f"经销商·{segment.dealer.name}")
    if segment.region_name:
        names.append(f"区域·{segment.region_name}")
    if campaign is not None:
        names.append(f"扫码活动·{campaign.name}")
    return [name[:50] for name in names]


def _member_follow_up(*, claim: Claim, member: Member, segment: Segment, batch: CodeBatch) -> None:
    """Tag the member (category or SKU, dealer, region, campaign) and, when the dealer's store asks
    for it and the member has no staff, make that store's staff the member's owner."""
    # Members' own service, one statement for all of them (missing tags made, missing links added).
    member_tags_add(member=member, names=_tag_names(batch, segment, claim.campaign), group=TAG_GROUP, actor="scancodes")
    dealer = segment.dealer
    if dealer is None or dealer.store_id is None or not dealer.assign_owner:
        return
    locked = Member.objects.select_for_update(no_key=True).get(pk=member.pk)
    if locked.assigned_staff_id is not None:
        return
    staff = Staff.objects.filter(store_id=dealer.store_id, status=Staff.Status.ACTIVE).order_by("id").first()
    if staff is not None:
        member_assign(
            member=locked,
            staff=staff,
            reason=MemberAssignment.Reason.ROUND_ROBIN,
            actor="scancodes",
            note=f"扫码领取（经销商 {dealer.name}）",
        )


@dataclass(frozen=True)
class Enrolment:
    name: str
    mobile: str
    decisions: Sequence[ConsentDecision]
    evidence: ConsentEvidence


def code_claim_enrol(*, serial: int, secret: str, enrolment: Enrolment, ctx: ScanContext) -> ClaimResult:
    """An anonymous scanner enrols (with their own consent on the brand's page) and claims, in one
    transaction: a refused claim leaves no member behind, a refused enrolment claims nothing."""
    code, batch, _segment = _code_checked(serial, secret, ctx)
    try:
        with transaction.atomic():
            member = member_enroll(
                name=enrolment.name,
                mobile=enrolment.mobile,
                decisions=enrolment.decisions,
                evidence=enrolment.evidence,
                channel=SalesChannel.OTHER,
                source=f"scan:{batch.sku}"[:64],
                actor="scancodes",
            )
            return _claim_in_transaction(
                code=code, batch=batch, member=member, ctx=ctx, count_scan=False, new_member=True
            )
    except AppError as exc:
        _scan_log(serial=serial, outcome=_outcome_of(exc), ctx=ctx)
        raise


def claim_approve(*, claim: Claim, actor: str) -> Claim:
    """A pending claim is granted: its reward now."""
    with transaction.atomic():
        if not Claim.objects.filter(pk=claim.pk, status=Claim.Status.PENDING).update(
            status=Claim.Status.GRANTED, decided_by=actor
        ):
            raise AppError(error_codes.CLAIM_STATE_INVALID, "只有待审核的领取可以通过。", status=409)
        claim.refresh_from_db()
        _reward_grant(claim=claim, member=claim.member, product_name=claim.batch.product_name)
    return claim


def claim_void(*, claim: Claim, actor: str, reason: str) -> Claim:
    """Void a claim (fraud): its reward is reversed through its own service — points and growth
    value by a new ledger entry (never an edit), the coupon voided while unused — and its budget
    returned. The code stays claimed: it never grants again. A coupon already used cannot be
    taken back: the claim is voided all the same and its void reason says so."""
    reason = (reason or "").strip()
    if not reason:
        raise _invalid(error_codes.CLAIM_STATE_INVALID, "作废须填写原因。", "reason")
    with transaction.atomic():
        before = Claim.objects.select_for_update().get(pk=claim.pk)
        if before.status == Claim.Status.VOID:
            raise AppError(error_codes.CLAIM_STATE_INVALID, "该领取已作废。", status=409)
        Claim.objects.filter(pk=claim.pk).update(status=Claim.Status.VOID, decided_by=actor, void_reason=reason[:255])
        units = before.budget_units
        if before.campaign is not None and units and before.campaign.budget_points is not None:
            ScanCampaign.objects.filter(pk=before.campaign.pk).update(spent_points=F("spent_points") - units)
        if before.status == Claim.Status.GRANTED and before.reward_kind:
            note = reward_kind_get(before.reward_kind).reverse(before, f"扫码领取作废：{reason}", actor)
            if note:
                Claim.objects.filter(pk=claim.pk).update(void_reason=f"{reason}（{note}）"[:255])
    claim.refresh_from_db()
    return claim


def alert_close(*, alert: DiversionAlert) -> None:
    DiversionAlert.objects.filter(pk=alert.pk).update(status=DiversionAlert.Status.CLOSED)
