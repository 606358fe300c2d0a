"""Member import from CSV/XLSX (paper enrolment forms typed up by stores, a legacy CRM export).

Decision: **each row is its own enrolment** through `member_enroll` (its own transaction), not
"validate the whole file, then write". A bad row therefore never half-imports (the service
validates before writing and rolls back on any failure), good rows are not held hostage by one
typo, and re-importing the same file is safe: rows whose person is already a member are reported
as "已是会员" with their member number and change nothing. The report lists every row.

Consent: the brand must hold its own evidence for each person (PIPL), so every row needs the
reference of the signed paper form (授权凭证编号) and an explicit 是 for the membership terms;
marketing purposes are recorded only when their column says 是/否. Evidence channel `import`.

Scoping: a store user imports only into their own store (blank store column = their store;
another store's code is a row error).

Size: a file is checked before anything is parsed, then read as a stream (at most MAX_ROWS rows,
cells of at most 1,000 characters: crm/spreadsheets/reading.py); the admin imports it as a
background job that records its progress (members/services/import_jobs.py). This module also
holds what both kinds of import share: opening the file within its bounds, a cell's text, the
row-level report.
"""

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, Generic, Protocol, TypeVar

from django.utils.translation import gettext as _

from consent.models import Agreement, Purpose
from consent.services import agreement_version_current, membership_version_for_enrolment
from consent.types import ConsentDecision, ConsentEvidence
from crm.errors import AppError
from crm.spreadsheets.reading import Sheet, SheetLimits, SheetRefused, sheet_open

from . import error_codes
from .models import IdentityKind, SalesChannel, Staff, Store
from .scoping import user_scope
from .services.members import member_enroll

MAX_ROWS = 5000

# Header → what it is. Chinese headers are what stores fill in; the English ones are accepted too.
_PROFILE = {
    "姓名": "name",
    "name": "name",
    "手机号": "mobile",
    "mobile": "mobile",
    "性别": "gender",
    "gender": "gender",
    "生日": "birthday",
    "birthday": "birthday",
    "门店编码": "store_code",
    "store_code": "store_code",
    "导购企业微信ID": "staff_wecom_userid",
    "staff_wecom_userid": "staff_wecom_userid",
    "入会渠道": "channel",
    "channel": "channel",
    "授权凭证编号": "evidence_reference",
    "evidence_reference": "evidence_reference",
    "入会时间": "ignored",
}
_CONSENT = {
    "同意会员协议": Purpose.MEMBERSHIP,
    "consent_membership": Purpose.MEMBERSHIP,
    "同意短信营销": Purpose.MARKETING_SMS,
    "consent_marketing_sms": Purpose.MARKETING_SMS,
    "同意企业微信营销": Purpose.MARKETING_WECOM,
    "consent_marketing_wecom": Purpose.MARKETING_WECOM,
}
_IDENTITIES = {
    **{str(label): kind for kind, label in IdentityKind.choices if kind != IdentityKind.MOBILE},
    **{kind: kind for kind in IdentityKind.values if kind != IdentityKind.MOBILE},
}
_GENDERS = {"男": "male", "女": "female", "未知": "unknown", "": "unknown", "male": "male", "female": "female"}
_YES = {"是", "同意", "y", "yes", "true", "1", "√", "✓"}
_NO = {"否", "不同意", "n", "no", "false", "0", ""}

COLUMNS_HELP = [
    ("手机号", "必填；中国大陆 11 位手机号或 +国家码"),
    ("姓名 / 性别 / 生日", "可选；性别填 男/女；生日 YYYY-MM-DD"),
    ("门店编码", "归属门店；门店账号可不填（默认本门店），只能导入本门店"),
    ("导购企业微信ID", "可选；经办导购（成为专属导购）"),
    ("同意会员协议", "必填“是”：会员本人已签署当前版本会员协议"),
    ("同意短信营销 / 同意企业微信营销", "可选，是/否；不填则不记录该项授权"),
    ("授权凭证编号", "必填：纸质授权书编号（品牌自身取得授权的凭证）"),
    ("微信 UnionID / 天猫 OUID / POS 会员卡号 …", "可选：其他身份标识，列名为类型名称"),
]


@dataclass
class RowResult:
    line: int
    status: str  # created / existing / error
    member_no: str = ""
    message: str = ""

    @property
    def status_display(self) -> str:
        return {"created": "新入会", "existing": "已是会员", "error": "错误"}[self.status]


class _Row(Protocol):
    status: str  # created / existing / error


RowT = TypeVar("RowT", bound=_Row)


@dataclass
class ImportReport(Generic[RowT]):
    """The row-level report of an import (members here, historical orders in order_imports)."""

    rows: list[RowT] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(1 for row in self.rows if row.status == "created")

    @property
    def existing(self) -> int:
        return sum(1 for row in self.rows if row.status == "existing")

    @property
    def errors(self) -> list[RowT]:
        return [row for row in self.rows if row.status == "error"]


def file_invalid(message: str) -> AppError:
    return AppError(error_codes.IMPORT_INVALID, message, fields={"file": [message]})


@contextmanager
def import_sheet_open(*, content: bytes, filename: str, max_rows: int) -> Iterator[Sheet]:
    """The file's sheet, checked against the import bounds (crm/spreadsheets/reading.py), or
    AppError(import_invalid) naming what is over which bound."""
    try:
        with sheet_open(content=content, filename=filename, limits=SheetLimits(max_rows=max_rows)) as sheet:
            yield sheet
    except SheetRefused as exc:
        raise AppError(
            error_codes.IMPORT_INVALID, exc.message, fields={"file": [exc.message]}, extra={"reason": exc.code}
        ) from exc


def row_cells(headers: list[str], values: list[Any]) -> dict[str, Any]:
    """header → cell of one row; a short row's missing cells are None, cells under no header or
    a blank one are left out."""
    return {header: value for header, value in zip_longest(headers, values[: len(headers)]) if header}


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets turn 13812341234 into 13812341234.0
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return str(value).strip()


def members_import_file(
    *, content: bytes, filename: str, user: Any, staff: Staff | None, actor: str
) -> ImportReport[RowResult]:
    """Import every row of a CSV/XLSX file at once (see the module docstring; the admin runs the
    same rows as a background job). AppError(import_invalid) for a file that cannot be imported
    at all; row problems are in the report."""
    with import_sheet_open(content=content, filename=filename, max_rows=MAX_ROWS) as sheet:
        rows = MemberRows(headers=sheet.headers, user=user, staff=staff, actor=actor, filename=filename)
        return ImportReport(rows=rows.import_rows(sheet.rows()))


class MemberRows:
    """The rows of one member file: the header is checked when this is made (AppError
    import_invalid), then `import_rows` enrols the rows it is given, each on its own — all at
    once, or a chunk at a time by an import job."""

    chunk_rows = 100  # a job records its progress every this many rows (~1 s of enrolments)

    def __init__(self, *, headers: list[Any], user: Any, staff: Staff | None, actor: str, filename: str) -> None:
        self.headers = [cell_text(h) for h in headers]
        if "手机号" not in self.headers and "mobile" not in self.headers:
            raise file_invalid(_("缺少“手机号”列。"))
        unknown = [h for h in self.headers if h and h not in _PROFILE and h not in _CONSENT and h not in _IDENTITIES]
        if unknown:
            raise file_invalid(f"无法识别的列：{'、'.join(unknown)}")
        # Every row would be refused by member_enroll's consent gate: say it once, for the file.
        membership_version_for_enrolment()

        self.versions = _current_versions()
        self.scope = user_scope(user)
        self.stores = {store.code: store for store in Store.objects.all()}
        self.staff_by_wecom = {
            s.wecom_userid: s for s in Staff.objects.exclude(wecom_userid="").select_related("store")
        }
        self.default_staff = staff
        self.actor = actor
        self.filename = filename

    def import_rows(self, rows: Iterable[tuple[int, list[Any]]]) -> list[RowResult]:
        """Enrol each (line, cells) row; rows without content are skipped and not reported."""
        results = []
        for line, values in rows:
            row = {header: cell_text(value) for header, value in row_cells(self.headers, values).items()}
            if not any(row.values()):
                continue
            results.append(
                _import_row(
                    line=line,
                    row=row,
                    scope=self.scope,
                    stores=self.stores,
                    staff_by_wecom=self.staff_by_wecom,
                    default_staff=self.default_staff,
                    versions=self.versions,
                    filename=self.filename,
                    actor=self.actor,
                )
            )
        return results


def _current_versions() -> dict[str, int]:
    """purpose → id of the current published version that lists it (membership first)."""
    result: dict[str, int] = {}
    for agreement in Agreement.objects.order_by("kind", "id"):
        version = agreement_version_current(agreement_id=agreement.pk)
        if version is None:
            continue
        for purpose in version.purposes:
            result.setdefault(purpose, version.pk)
    return result


def _import_row(
    *,
    line: int,
    row: dict[str, str],
    scope: Any,
    stores: dict[str, Store],
    staff_by_wecom: dict[str, Staff],
    default_staff: Staff | None,
    versions: dict[str, int],
    filename: str,
    actor: str,
) -> RowResult:
    profile = {_PROFILE[h]: v for h, v in row.items() if h in _PROFILE}
    try:
        gender = _GENDERS.get(profile.get("gender", "").lower())
        if gender is None:
            raise AppError(error_codes.MEMBER_INVALID, f"性别“{profile['gender']}”无效，请填 男/女。")
        birthday = None
        if profile.get("birthday"):
            try:
                birthday = dt.date.fromisoformat(profile["birthday"][:10])
            except ValueError as exc:
                raise AppError(error_codes.MEMBER_INVALID, f"生日“{profile['birthday']}”格式应为 YYYY-MM-DD。") from exc
        store = _row_store(code=profile.get("store_code", ""), scope=scope, stores=stores)
        staff = default_staff
        if profile.get("staff_wecom_userid"):
            staff = staff_by_wecom.get(profile["staff_wecom_userid"])
            if staff is None:
                raise AppError(
                    error_codes.STAFF_INVALID, f"找不到企业微信 ID 为“{profile['staff_wecom_userid']}”的导购。"
                )
        if staff is not None and not scope.all_stores and staff.store_id != scope.store_id:
            raise AppError(error_codes.OUT_OF_SCOPE, "只能指定本门店的导购。")
        reference = profile.get("evidence_reference", "")
        if not reference:
            raise AppError(error_codes.IMPORT_INVALID, "缺少授权凭证编号（纸质授权书编号）。")
        decisions = _row_decisions(row=row, versions=versions)
        channel = profile.get("channel") or SalesChannel.STORE
        member = member_enroll(
            name=profile.get("name", ""),
            mobile=profile.get("mobile", ""),
            gender=gender,
            birthday=birthday,
            home_store=store or (staff.store if staff else None),
            identities=[(kind, row[h]) for h, kind in _IDENTITIES.items() if row.get(h)],
            decisions=decisions,
            evidence=ConsentEvidence(
                channel="import",
                staff_id=staff.pk if staff else None,
                paper=True,
                partner_reference=reference,
                extra={"import_file": filename[:100], "import_line": str(line)},
            ),
            channel=channel,
            staff=staff,
            source="import",
            actor=actor,
        )
    except AppError as exc:
        if exc.code == error_codes.MEMBER_ALREADY_ENROLLED:
            return RowResult(
                line=line, status="existing", member_no=exc.extra.get("member_no", ""), message=exc.message
            )
        return RowResult(line=line, status="error", message=exc.message)
    return RowResult(line=line, status="created", member_no=member.member_no)


def _row_store(*, code: str, scope: Any, stores: dict[str, Store]) -> Store | None:
    if not code:
        return stores_by_pk(stores).get(scope.store_id) if not scope.all_stores else None
    store = stores.get(code.upper()) or stores.get(code)
    if store is None:
        raise AppError(error_codes.STORE_INVALID, f"门店编码“{code}”不存在。")
    if not scope.all_stores and store.pk != scope.store_id:
        raise AppError(error_codes.OUT_OF_SCOPE, f"只能导入本门店的会员（本行门店：{store.code}）。")
    return store


def stores_by_pk(stores: dict[str, Store]) -> dict[int | None, Store]:
    return {store.pk: store for store in stores.values()}


def _row_decisions(*, row: dict[str, str], versions: dict[str, int]) -> list[ConsentDecision]:
    decisions = []
    for header, purpose in _CONSENT.items():
        if header not in row:
            continue
        answer = row[header].lower()
        if answer not in _YES and answer not in _NO:
            raise AppError(error_codes.IMPORT_INVALID, f"“{header}”应填 是 或 否。")
        if purpose not in versions:
            if answer in _YES:
                raise AppError(error_codes.IMPORT_INVALID, f"当前没有包含“{header}”的已发布协议。")
            continue
        decisions.append(ConsentDecision(purpose=purpose, granted=answer in _YES, version_id=versions[purpose]))
    if not any(d.purpose == Purpose.MEMBERSHIP for d in decisions):
        raise AppError(error_codes.IMPORT_INVALID, "缺少“同意会员协议”列或未填写“是”。")
    return decisions
