"""Historical order import from CSV/XLSX (a legacy POS or shop export), with a row-level report.

Every row goes through the real order service (`orders_post_batch`), so dedupe per (channel,
order number), the capture-rate aggregates, last purchase, lifecycle and tier evaluation are
exactly those of a live order. Re-importing a file is harmless: orders already recorded are
reported as "已存在" and change nothing (the same order number with another amount is a row error).

Batches, not row transactions: rows are parsed and checked here first (a bad cell is reported with
its line and column and never reaches the service), then sent in batches of BATCH_SIZE orders, one
transaction each. The batch service refuses items individually and writes nothing for them
(unknown store or staff, an order number already used with another amount...), so a bad row is
reported and not written, and the good rows of the same batch still are.

Points (decision): historical orders earn NO points by default (`earn_points=False`): they were
paid before the programme or before this import, and crediting years of purchases at once would
hand out a liability nobody budgeted. They still count for qualifying spend (per each tier's
window — old orders outside it count for nothing), lifecycle, last purchase and the capture rate.
The importer may choose to let them earn by today's rules (the lots then expire per the current
policy from today). Points-as-cash is not importable: historical payments cannot be debited again.

Scoping: a store user imports only orders of their own store (blank store column = their store;
another store's code, or another store's staff, is a row error).

Size: at most MAX_ROWS rows, checked before parsing and read as a stream (members/imports.py); the
admin imports the file as a background job (members/services/import_jobs.py).
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from crm.errors import AppError
from crm.spreadsheets.writing import csv_bytes
from crm.tenancy.zones import brand_zone

from . import error_codes
from .imports import ImportReport, cell_text, file_invalid, import_sheet_open, row_cells
from .models import IdentityKind, SalesChannel, Staff, Store
from .scoping import StoreScope, user_scope
from .selectors import identity_value_normalize
from .services.orders import OrderInput, OrderItemResult, orders_post_batch

MAX_ROWS = 20_000
BATCH_SIZE = 1_000
MAX_AMOUNT_YUAN = Decimal(10**10)  # ten billion yuan: far above any order, inside bigint fen

# field → the Chinese header the template uses (and error messages name).
COLUMN_LABELS = {
    "channel": "渠道",
    "order_no": "订单号",
    "store_code": "门店编码",
    "paid_at": "支付时间",
    "amount": "实付金额（元）",
    "buyer_kind": "买家标识类型",
    "buyer_value": "买家标识",
    "staff_wecom_userid": "导购企业微信ID",
}
REQUIRED = ("channel", "order_no", "paid_at", "amount")
# Header → field. The template's Chinese headers; English names and a few spellings are accepted.
_HEADERS = {
    **{label: name for name, label in COLUMN_LABELS.items()},
    **{name: name for name in COLUMN_LABELS},
    "实付金额": "amount",
    "实付金额(元)": "amount",
    "amount_yuan": "amount",
}
_CHANNELS = {**{str(label): value for value, label in SalesChannel.choices}, **{v: v for v in SalesChannel.values}}
_KINDS = {**{str(label): value for value, label in IdentityKind.choices}, **{v: v for v in IdentityKind.values}}
# Service result fields → the column a refusal is about.
_SERVICE_FIELDS = {
    "store": "store_code",
    "staff": "staff_wecom_userid",
    "amount_fen": "amount",
    "buyer_value": "buyer_value",
}

COLUMNS_HELP = [
    ("渠道", "必填：线下门店 / 小程序 / 天猫 / 京东 / 抖音 / 企业微信 / 其他（或英文代码 store、tmall…）"),
    ("订单号", "必填：同一渠道内唯一；重复导入同一订单不会重复记录"),
    ("门店编码", "可选；门店账号可不填（默认本门店），只能导入本门店的订单"),
    ("支付时间", "必填：YYYY-MM-DD HH:MM[:SS]，按品牌时区（默认北京时间）；可带时区如 +08:00"),
    ("实付金额（元）", "必填：元，最多两位小数，如 259.00"),
    ("买家标识类型 / 买家标识", "可选，须同时填写：如 手机号 + 13800000001；找不到会员则记为游客订单"),
    ("导购企业微信ID", "可选：成交导购"),
]
TEMPLATE_ROWS = [
    [COLUMN_LABELS[name] for name in COLUMN_LABELS],
    ["线下门店", "POS202403010001", "SH001", "2024-03-01 14:30", "259.00", "手机号", "13800000001", ""],
    ["天猫", "TM202403020001", "", "2024-03-02 09:05:00", "1299.90", "天猫 OUID", "AAGk3xYz", ""],
    ["线下门店", "POS202403030001", "SH001", "2024-03-03 18:00", "88.50", "", "", ""],
]


@dataclass
class OrderRowResult:
    line: int
    status: str  # created / existing / error
    order_no: str = ""
    member_no: str = ""
    points_earned: int = 0
    column: str = ""
    message: str = ""

    @property
    def status_display(self) -> str:
        return {"created": "已导入", "existing": "已存在", "error": "错误"}[self.status]


OrderImportReport = ImportReport[OrderRowResult]


class _RowError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def orders_import_template_csv() -> bytes:
    """The downloadable template (UTF-8 with BOM, so Excel shows the Chinese headers)."""
    return csv_bytes(TEMPLATE_ROWS)


def orders_import_file(
    *, content: bytes, filename: str, user: Any, earn_points: bool = False, actor: str
) -> OrderImportReport:
    """Import every order row of a CSV/XLSX file at once (see the module docstring; the admin runs
    the same rows as a background job). AppError(import_invalid) for a file that cannot be
    imported at all; row problems are in the report."""
    with import_sheet_open(content=content, filename=filename, max_rows=MAX_ROWS) as sheet:
        rows = OrderRows(headers=sheet.headers, user=user, earn_points=earn_points, actor=actor)
        return OrderImportReport(rows=rows.import_rows(sheet.rows()))


class OrderRows:
    """The rows of one order file: the header and the importer's rights are checked when this is
    made (AppError), then `import_rows` records the rows it is given — all at once, or a chunk at
    a time by an import job. A repeated order number is recognised across chunks."""

    chunk_rows = 500  # a job records its progress every this many rows

    def __init__(self, *, headers: list[Any], user: Any, earn_points: bool, actor: str) -> None:
        self.headers = [cell_text(h) for h in headers]
        unknown = [h for h in self.headers if h and h not in _HEADERS]
        if unknown:
            raise file_invalid(f"无法识别的列：{'、'.join(unknown)}。请使用导入模板。")
        fields = [_HEADERS[h] for h in self.headers if h]
        repeated = sorted({COLUMN_LABELS[f] for f in fields if fields.count(f) > 1})
        if repeated:
            raise file_invalid(f"列重复：{'、'.join(repeated)}。")
        missing = [COLUMN_LABELS[f] for f in REQUIRED if f not in fields]
        if missing:
            raise file_invalid(f"缺少必填列：{'、'.join(missing)}。请使用导入模板。")
        scope = user_scope(user)
        if scope.sees_nothing:
            raise AppError(error_codes.OUT_OF_SCOPE, "您的账号未关联在职门店员工，不能导入订单。", status=403)
        if earn_points and not user.has_perm("members.adjust_points_unlimited"):
            # Points on imported orders are a points grant of any size (up to MAX_ROWS rows): only
            # those who may adjust points without a limit may choose it; everybody else's manual
            # adjustments are capped (members/services/points.py ADJUST_LIMITS).
            raise AppError(
                error_codes.POINTS_ADJUST_FORBIDDEN,
                "只有可不限额调整积分的账号（如品牌管理员）才能为历史订单计算积分。",
                fields={"earn_points": ["无权限。"]},
                status=403,
            )
        self.parser = _RowParser(scope=scope)
        self.earn_points = earn_points
        self.actor = actor
        self.first_line: dict[tuple[str, str], int] = {}

    def import_rows(self, rows: Iterable[tuple[int, list[Any]]]) -> list[OrderRowResult]:
        """Check each (line, cells) row, then post the good ones in batches of BATCH_SIZE; rows
        without content are skipped and not reported."""
        results: list[OrderRowResult] = []
        pending: list[tuple[OrderRowResult, OrderInput]] = []
        for line, values in rows:
            row = {_HEADERS[h]: value for h, value in row_cells(self.headers, values).items()}
            if not any(cell_text(v) for v in row.values()):
                continue
            result = OrderRowResult(line=line, status="error", order_no=cell_text(row.get("order_no")))
            results.append(result)
            try:
                item = self.parser.parse(row)
            except _RowError as exc:
                result.column, result.message = COLUMN_LABELS[exc.column], exc.message
                continue
            key = (item.channel, item.order_no)
            if key in self.first_line:
                result.column = COLUMN_LABELS["order_no"]
                result.message = f"与第 {self.first_line[key]} 行是同一渠道的同一订单号。"
                continue
            self.first_line[key] = line
            pending.append((result, item))

        for start in range(0, len(pending), BATCH_SIZE):
            batch = pending[start : start + BATCH_SIZE]
            outcomes = orders_post_batch(
                orders=[item for _, item in batch], actor=self.actor, earn_points=self.earn_points
            )
            _record(batch=[result for result, _ in batch], outcomes=outcomes)
        return results


def _record(*, batch: Sequence[OrderRowResult], outcomes: Sequence[OrderItemResult]) -> None:
    for result, outcome in zip(batch, outcomes, strict=True):
        if outcome.error_code:
            column = next((_SERVICE_FIELDS.get(f, f) for f in outcome.fields), "")
            result.column = COLUMN_LABELS.get(column, "")
            result.message = outcome.error_message
            continue
        result.status = "created" if outcome.created else "existing"
        result.member_no = outcome.member_no
        result.points_earned = outcome.points_earned
        if not outcome.created:
            result.message = "订单已存在，未做任何变更。"


class _RowParser:
    """Turns one row's cells into an OrderInput, or raises _RowError naming the column."""

    def __init__(self, *, scope: StoreScope) -> None:
        self.scope = scope
        self.zone = brand_zone()
        self.stores = {store.code: store for store in Store.objects.all()}
        # Looked up with the user's store id, None for a store user without a store.
        self.stores_by_pk: dict[int | None, Store] = {store.pk: store for store in self.stores.values()}
        self.staff = {s.wecom_userid: s for s in Staff.objects.exclude(wecom_userid="")}

    def parse(self, row: dict[str, Any]) -> OrderInput:
        text = {name: cell_text(value) for name, value in row.items()}
        channel = _CHANNELS.get(text["channel"]) or _CHANNELS.get(text["channel"].lower())
        if channel is None:
            raise _RowError(
                "channel", f"渠道“{text['channel']}”无效，应为：{'、'.join(map(str, SalesChannel.labels))}。"
            )
        order_no = text["order_no"]
        if not order_no or len(order_no) > 64 or any(ord(c) < 32 or ord(c) == 127 for c in order_no):
            raise _RowError("order_no", "订单号必填，不超过 64 个字符，且不含控制字符。")
        store = self._store(text.get("store_code", ""))
        paid_at = self._paid_at(row["paid_at"], text["paid_at"])
        amount_fen = _amount_fen(text["amount"])
        buyer_kind, buyer_value = self._buyer(text.get("buyer_kind", ""), text.get("buyer_value", ""))
        staff = self._staff(text.get("staff_wecom_userid", ""))
        return OrderInput(
            channel=channel,
            order_no=order_no,
            paid_at=paid_at,
            amount_fen=amount_fen,
            store_id=store.pk if store else None,
            buyer_kind=buyer_kind,
            buyer_value=buyer_value,
            staff_id=staff.pk if staff else None,
        )

    def _store(self, code: str) -> Store | None:
        if not code:
            return None if self.scope.all_stores else self.stores_by_pk.get(self.scope.store_id)
        store = self.stores.get(code) or self.stores.get(code.upper())
        if store is None:
            raise _RowError("store_code", f"门店编码“{code}”不存在。")
        if not self.scope.all_stores and store.pk != self.scope.store_id:
            raise _RowError("store_code", f"只能导入本门店的订单（本行门店：{store.code}）。")
        return store

    def _paid_at(self, raw: Any, text: str) -> dt.datetime:
        if isinstance(raw, dt.datetime):  # an XLSX date cell: wall-clock time in the brand's zone
            value = raw
        else:
            try:
                value = dt.datetime.fromisoformat(text.replace("/", "-"))
            except ValueError as exc:
                raise _RowError("paid_at", f"支付时间“{text}”格式应为 YYYY-MM-DD HH:MM[:SS]（品牌时区）。") from exc
        # A time without an offset is the brand's local time (what a store's POS export shows).
        return value if value.tzinfo is not None else value.replace(tzinfo=self.zone)

    def _buyer(self, kind_text: str, value: str) -> tuple[str, str]:
        if not kind_text and not value:
            return "", ""  # a tourist order
        if not kind_text or not value:
            column = "buyer_kind" if not kind_text else "buyer_value"
            raise _RowError(column, "买家标识类型和买家标识须同时填写（或都不填，记为游客订单）。")
        kind = _KINDS.get(kind_text) or _KINDS.get(kind_text.lower())
        if kind is None:
            raise _RowError(
                "buyer_kind", f"买家标识类型“{kind_text}”无效，应为：{'、'.join(map(str, IdentityKind.labels))}。"
            )
        try:
            return kind, identity_value_normalize(kind=kind, value=value)
        except AppError as exc:
            raise _RowError("buyer_value", exc.message) from exc

    def _staff(self, wecom_userid: str) -> Staff | None:
        if not wecom_userid:
            return None
        staff = self.staff.get(wecom_userid)
        if staff is None:
            raise _RowError("staff_wecom_userid", f"找不到企业微信 ID 为“{wecom_userid}”的导购。")
        if not self.scope.all_stores and staff.store_id != self.scope.store_id:
            raise _RowError("staff_wecom_userid", "只能指定本门店的导购。")
        return staff


def _amount_fen(text: str) -> int:
    cleaned = text.replace(",", "").replace("¥", "").replace("￥", "").strip()
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise _RowError("amount", f"实付金额“{text}”不是有效的数字（单位：元）。")
    if amount < 0 or amount > MAX_AMOUNT_YUAN:
        raise _RowError("amount", f"实付金额“{text}”须在 0 到 {MAX_AMOUNT_YUAN} 元之间。")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise _RowError("amount", f"实付金额“{text}”最多两位小数（元）。")
    return int(fen)
