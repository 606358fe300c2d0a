"""Spreadsheet bombs on import (issue 21 finding 5), written as the attack: a ~1 MB XLSX holding
two million rows pinned a web worker for 60 s, a 205 KB XLSX holding one 200 MB cell took a worker
to 487 MB. Each is now refused on upload, before openpyxl opens it, within a second, with a
Chinese message naming the bound; so are a lying <dimension>, a sheet without one that goes on
past the limit, cells past the last column allowed or over 1,000 characters, a DTD, and the
same in CSV. Nothing is stored and nothing imported."""

import io
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from typing import IO, Any

import openpyxl
import pytest

from crm.errors import AppError
from crm.spreadsheets import reading
from members import error_codes
from members.models import ImportJob, Member, Order
from members.services.import_jobs import members_import_start, orders_import_start

SHEET = "xl/worksheets/sheet1.xml"
SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)
HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>手机号</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>姓名</t></is></c><c r="C1" t="inlineStr"><is><t>同意会员协议</t></is></c>'
    '<c r="D1" t="inlineStr"><is><t>授权凭证编号</t></is></c></row>'
)


def xlsx_with_sheet(write_rows: Callable[[IO[bytes]], None], *, dimension: str = "", level: int = 6) -> bytes:
    """A real workbook (openpyxl's parts) whose sheet XML is written here, streamed into the zip."""
    skeleton = io.BytesIO()
    openpyxl.Workbook().save(skeleton)
    source = zipfile.ZipFile(skeleton)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for part in source.infolist():
            if part.filename != SHEET:
                archive.writestr(part, source.read(part))
                continue
            with archive.open(SHEET, "w", force_zip64=True) as sheet:
                sheet.write(SHEET_HEAD.encode())
                if dimension:
                    sheet.write(f'<dimension ref="{dimension}"/>'.encode())
                sheet.write(b"<sheetData>")
                sheet.write(HEADER_ROW.encode())
                write_rows(sheet)
                sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def repeated(row: str, times: int) -> Callable[[IO[bytes]], None]:
    def write(sheet: IO[bytes]) -> None:
        block = row.encode() * 10_000
        for _ in range(times // 10_000):
            sheet.write(block)
        sheet.write(row.encode() * (times % 10_000))

    return write


def rows_of(*rows: str) -> Callable[[IO[bytes]], None]:
    def write(sheet: IO[bytes]) -> None:
        sheet.write("".join(rows).encode())

    return write


@pytest.fixture
def brand_admin_user(in_brand_a):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="admin@alpha.example")


@pytest.fixture
def openpyxl_never_opens(monkeypatch):
    """The refusal must come before openpyxl parses anything."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("openpyxl opened a file that should have been refused before parsing")

    monkeypatch.setattr(reading, "load_workbook", refuse)


def refused(user: Any, content: bytes, filename: str = "members.xlsx") -> tuple[AppError, float]:
    started = time.monotonic()
    with pytest.raises(AppError) as caught:
        members_import_start(content=content, filename=filename, user=user, staff=None, actor="admin")
    elapsed = time.monotonic() - started
    assert caught.value.code == error_codes.IMPORT_INVALID
    assert not ImportJob.objects.exists() and not Member.objects.exists()
    return caught.value, elapsed


def test_a_one_megabyte_xlsx_of_two_million_rows_is_refused_within_a_second(brand_admin_user, openpyxl_never_opens):
    # What the probe sent: two million short rows under a <dimension> that says so, ~1 MB zipped.
    row = '<row><c t="inlineStr"><is><t>张伟</t></is></c><c><v>13800000000</v></c></row>'
    content = xlsx_with_sheet(repeated(row, 2_000_000), dimension="A1:D2000001", level=1)
    assert 500_000 < len(content) < 1_500_000
    assert sum(part.file_size for part in zipfile.ZipFile(io.BytesIO(content)).infolist()) > 150_000_000

    error, elapsed = refused(brand_admin_user, content)

    # A correctness bound, not a benchmark: the old code parsed all of it (60.7 s, then killed).
    assert elapsed < 1.0
    assert "一次最多导入 5000 行" in error.message and "解压后" in error.message


def test_a_declared_dimension_past_the_limit_is_refused_before_the_first_row(brand_admin_user, openpyxl_never_opens):
    content = xlsx_with_sheet(rows_of(), dimension="A1:D2000001")
    assert len(content) < 10_000

    error, elapsed = refused(brand_admin_user, content)

    assert elapsed < 1.0
    assert error.extra["reason"] == reading.TOO_MANY_ROWS
    assert "一次最多导入 5000 行" in error.message and "A1:D2000001" in error.message


def test_a_sheet_without_a_dimension_is_stopped_at_the_row_limit_plus_one(brand_admin_user, openpyxl_never_opens):
    # Within every size bound (~6 MB unzipped), so only counting the rows as they stream stops it.
    row = '<row><c t="inlineStr"><is><t>1</t></is></c></row>'
    content = xlsx_with_sheet(repeated(row, 150_000))

    error, elapsed = refused(brand_admin_user, content)

    assert elapsed < 1.0
    assert error.message == "一次最多导入 5000 行，请拆分文件。"


def test_a_row_numbered_far_past_the_limit_is_refused(brand_admin_user, openpyxl_never_opens):
    # openpyxl would hand out every missing row in between as an empty one.
    content = xlsx_with_sheet(rows_of('<row r="2000000"><c r="A2000000"><v>1</v></c></row>'))

    error, elapsed = refused(brand_admin_user, content)

    assert elapsed < 1.0 and "第 2000000 行" in error.message and "5000" in error.message


def test_one_huge_cell_is_refused_from_the_zip_directory_without_reading_it(brand_admin_user, openpyxl_never_opens):
    # The probe's 205 KB file whose one cell unzips to 200 MB.
    def huge_cell(sheet: IO[bytes]) -> None:
        sheet.write(b'<row r="2"><c r="B2" t="inlineStr"><is><t>')
        chunk = b"A" * (1024 * 1024)
        for _ in range(200):
            sheet.write(chunk)
        sheet.write(b"</t></is></c></row>")

    content = xlsx_with_sheet(huge_cell, level=9)
    assert len(content) < 400_000

    tracemalloc.start()
    try:
        error, _elapsed = refused(brand_admin_user, content)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert error.extra["reason"] == reading.TOO_LARGE and "解压后约 200 MB" in error.message
    assert peak < 5 * 1024 * 1024  # the cell was never inflated (the old code took 487 MB)


@pytest.mark.parametrize("shared", [False, True], ids=["inline", "shared-string"])
def test_a_cell_over_a_thousand_characters_is_refused_naming_its_row_and_column(brand_admin_user, shared):
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["手机号", "姓名", "同意会员协议", "授权凭证编号"])
    sheet.append([13800000001, "张伟", "是", "P-1"])
    sheet.append([13800000002, "长" * 1001, "是", "P-2"])
    buffer = io.BytesIO()
    book.save(buffer)
    content = buffer.getvalue()
    if not shared:
        long_cell = f'<c r="B3" t="inlineStr"><is><t>{"长" * 1001}</t></is></c>'
        content = xlsx_with_sheet(
            rows_of(
                '<row r="2"><c r="A2"><v>13800000001</v></c></row>',
                f'<row r="3"><c r="A3"><v>13800000002</v></c>{long_cell}</row>',
            )
        )

    error, _elapsed = refused(brand_admin_user, content)

    assert error.extra["reason"] == reading.CELL_TOO_LONG
    assert error.message == "第 3 行 B 列的内容超过 1000 个字符，请检查该单元格。"


def test_a_cell_past_the_last_column_allowed_is_refused(brand_admin_user, openpyxl_never_opens):
    # Column XFD: openpyxl would pad every row to 16,384 cells.
    content = xlsx_with_sheet(rows_of('<row r="2"><c r="A2"><v>1</v></c><c r="XFD2"><v>1</v></c></row>'))

    error, _elapsed = refused(brand_admin_user, content)

    assert error.extra["reason"] == reading.TOO_MANY_COLUMNS
    assert "最多 50 列" in error.message and "第 2 行" in error.message and "XFD" in error.message


def test_a_sheet_with_a_dtd_is_refused(brand_admin_user, openpyxl_never_opens):
    skeleton = xlsx_with_sheet(rows_of())
    source = zipfile.ZipFile(io.BytesIO(skeleton))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in source.infolist():
            data = source.read(part)
            if part.filename == SHEET:
                data = data.replace(b"<worksheet", b'<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">]><worksheet', 1)
            archive.writestr(part, data)

    error, _elapsed = refused(brand_admin_user, out.getvalue())

    assert "DTD" in error.message


def test_a_csv_of_two_million_lines_is_stopped_at_the_row_limit_plus_one(brand_admin_user):
    content = "手机号,姓名,同意会员协议,授权凭证编号\n".encode() + b"1,a,b,c\n" * 600_000
    assert len(content) < 5 * 1024 * 1024

    error, elapsed = refused(brand_admin_user, content, "members.csv")

    assert elapsed < 1.0
    assert error.message == "一次最多导入 5000 行，请拆分文件。"


def test_blank_csv_lines_count_towards_the_lines_read(brand_admin_user):
    content = "手机号,姓名\n".encode() + b",\n" * 2_000_000

    error, elapsed = refused(brand_admin_user, content, "members.csv")

    assert elapsed < 1.0
    assert "第 6002 行仍未结束" in error.message and "5000" in error.message


def test_a_long_csv_cell_is_refused_naming_its_row_and_column(brand_admin_user):
    content = f"手机号,姓名\n13800000001,张伟\n13800000002,{'长' * 1001}\n".encode()

    error, _elapsed = refused(brand_admin_user, content, "members.csv")

    assert error.message == "第 3 行 B 列的内容超过 1000 个字符，请检查该单元格。"


def test_the_order_import_keeps_the_same_bounds(in_brand_a, openpyxl_never_opens):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="admin@alpha.example")
    content = xlsx_with_sheet(rows_of(), dimension="A1:H2000001")
    started = time.monotonic()
    with pytest.raises(AppError) as caught:
        orders_import_start(content=content, filename="orders.xlsx", user=user, earn_points=False, actor="admin")

    assert time.monotonic() - started < 1.0
    assert "一次最多导入 20000 行" in caught.value.message
    assert not ImportJob.objects.exists() and not Order.objects.exists()
