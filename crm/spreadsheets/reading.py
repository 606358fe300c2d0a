"""Spreadsheets we take in (CSV and XLSX imports), read within bounds.

An XLSX file is a zip of XML: 1 MB of it held two million rows, 205 KB a 200 MB cell (issue 21:
the first pinned a web worker for 60 s because the row limit was checked after the whole sheet
had been parsed; the second took a worker to 487 MB). So nothing is parsed before what the file
unpacks to has been bounded, and parsing stops at the first bound passed:

1. the upload's size;
2. XLSX, from the zip's table of contents alone: the number of parts and the sum of their
   uncompressed sizes. zipfile never inflates a part past the size it declares (and then checks
   its CRC), so a lying header gets a broken file, not a bigger one;
3. XLSX: the shared strings and every worksheet are scanned with expat, which hands text over in
   pieces that are counted, not kept: a DTD is refused (entity expansion); the declared
   <dimension> before the first row; row and column numbers; characters per cell, with the row
   and column named; rows with content, stopping at the limit + 1. Only then does openpyxl open
   the book: in read-only mode it loads the shared strings whole and reads a sheet that has no
   <dimension> through at load time, so it gets only what the scan let pass;
4. rows are streamed (openpyxl read_only, iter_rows(values_only=True)) up to the last line the
   scan found, no wider than the widest cell it found.

CSV is decoded at once (the upload bound keeps that small) and streamed with csv.reader under
the same row, column and cell bounds.

A refusal is a `SheetRefused` with a stable `code` and a message for the person who uploaded the
file (Chinese, as the back office). Blank rows are skipped and not counted as data, but count
towards the lines read (Excel keeps formatted empty rows): at most `blank_rows_allowed` of them.
"""

import csv
import functools
import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string, range_boundaries
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

MB = 1024 * 1024
MAX_UPLOAD_BYTES = 5 * MB
_COLUMN_LETTERS = re.compile(r"[A-Za-z]{1,3}")


@dataclass(frozen=True)
class SheetLimits:
    """What one import may hold. `max_rows` counts rows with content below the header."""

    max_rows: int
    max_columns: int = 50
    max_cell_chars: int = 1_000
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    blank_rows_allowed: int = 1_000
    # Uncompressed XLSX: a fixed allowance for styles, themes and the like, and this much per row.
    # Excel writes ~1 KB per row of a 12-column sheet with its shared strings; twice that is room.
    bytes_per_row: int = 2_048
    max_parts: int = 500

    @property
    def max_lines(self) -> int:
        """Sheet lines read at most: the header, the rows, the blank rows allowed."""
        return 1 + self.max_rows + self.blank_rows_allowed

    @property
    def max_unzipped_bytes(self) -> int:
        return 4 * MB + self.max_rows * self.bytes_per_row

    @property
    def max_shared_strings(self) -> int:
        return self.max_lines * self.max_columns


class SheetRefused(Exception):
    """The file cannot be imported as a whole. `code` is stable; `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


UNSUPPORTED = "unsupported_format"
UNREADABLE = "unreadable"
TOO_LARGE = "too_large"
TOO_MANY_ROWS = "too_many_rows"
TOO_MANY_COLUMNS = "too_many_columns"
CELL_TOO_LONG = "cell_too_long"

UNREADABLE_MESSAGE = "无法读取文件，请使用 UTF-8 编码的 CSV 或 XLSX。"


def too_many_rows(limits: SheetLimits) -> SheetRefused:
    return SheetRefused(TOO_MANY_ROWS, f"一次最多导入 {limits.max_rows} 行，请拆分文件。")


def _too_many_lines(limits: SheetLimits, line: int) -> SheetRefused:
    return SheetRefused(
        TOO_MANY_ROWS,
        f"一次最多导入 {limits.max_rows} 行，此文件的表格到第 {line} 行仍未结束"
        f"（含空行最多 {limits.max_lines} 行），请删除多余的空行或拆分文件。",
    )


def _too_many_columns(limits: SheetLimits, line: int, column: int) -> SheetRefused:
    return SheetRefused(
        TOO_MANY_COLUMNS,
        f"表格最多 {limits.max_columns} 列，第 {line} 行有第 {column} 列（{get_column_letter(column)} 列）的内容。",
    )


def _cell_too_long(limits: SheetLimits, line: int, column: int) -> SheetRefused:
    return SheetRefused(
        CELL_TOO_LONG,
        f"第 {line} 行 {get_column_letter(column)} 列的内容超过 {limits.max_cell_chars} 个字符，请检查该单元格。",
    )


@dataclass
class Sheet:
    """An opened, checked sheet. `headers` are the cells of its first line with content
    (`header_line`); `data_rows` counts the lines with content below it, `last_line` is the last
    line with content. `rows()` streams the lines below the header, blank ones included, as
    (line number, values) — values as the file holds them (str, int, float, datetime, None)."""

    headers: list[Any]
    header_line: int
    last_line: int
    data_rows: int
    _lines: Any = field(repr=False)

    def rows(self, *, after_line: int = 0) -> Iterator[tuple[int, list[Any]]]:
        """The lines below the header, from the first one after `after_line` (a job resuming)."""
        start = max(after_line, self.header_line) + 1
        yield from self._lines(start)


@contextmanager
def sheet_open(*, content: bytes, filename: str, limits: SheetLimits) -> Iterator[Sheet]:
    """Check `content` against `limits` and open its first (XLSX: active) sheet, or raise
    SheetRefused. The sheet can be read until the block ends."""
    if len(content) > limits.max_upload_bytes:
        raise SheetRefused(TOO_LARGE, f"文件过大（上限 {limits.max_upload_bytes // MB} MB）。")
    name = filename.lower()
    if name.endswith(".xlsx"):
        with _xlsx_open(content, limits) as sheet:
            yield sheet
    elif name.endswith(".csv"):
        yield _csv_open(content, limits)
    else:
        raise SheetRefused(UNSUPPORTED, "只支持 CSV 或 XLSX 文件。")


# --- CSV -----------------------------------------------------------------------------------------


def _csv_open(content: bytes, limits: SheetLimits) -> Sheet:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on a Chinese Windows saves "CSV" in the system code page, GBK, unless one picks
        # "CSV UTF-8": read that too (GB18030 is its superset) rather than send staff to re-save.
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise SheetRefused(UNREADABLE, UNREADABLE_MESSAGE) from exc

    def records(start: int = 1) -> Iterator[tuple[int, list[Any]]]:
        # One line per record, numbered as a spreadsheet shows them (a quoted field may span lines).
        reader = csv.reader(io.StringIO(text, newline=""))
        line = 0
        try:
            for line, record in enumerate(reader, start=1):
                if line > limits.max_lines:
                    raise _too_many_lines(limits, line)
                if line >= start:
                    yield line, list(record)
        except csv.Error as exc:  # a NUL byte, a field over csv's own 128 KB limit, a stray quote
            raise SheetRefused(UNREADABLE, f"无法读取文件第 {line + 1} 行：{exc}") from exc

    header_line = last_line = data_rows = 0
    headers: list[Any] = []
    for line, record in records():
        width = _width(record)
        if not width:
            continue
        if width > limits.max_columns:
            raise _too_many_columns(limits, line, width)
        for column, value in enumerate(record[:width], start=1):
            if len(value) > limits.max_cell_chars:
                raise _cell_too_long(limits, line, column)
        if not header_line:
            header_line, headers = line, record
        elif any(value.strip() for value in record):
            data_rows += 1
            if data_rows > limits.max_rows:
                raise too_many_rows(limits)
        last_line = line
    if not header_line:
        raise SheetRefused(UNREADABLE, "无法读取文件：文件是空的（没有表头行）。")
    return Sheet(headers=headers, header_line=header_line, last_line=last_line, data_rows=data_rows, _lines=records)


def _width(record: list[str]) -> int:
    """Columns up to the last non-empty one (a row of trailing commas is not wider)."""
    width = len(record)
    while width and not record[width - 1]:
        width -= 1
    return width


# --- XLSX ----------------------------------------------------------------------------------------


@contextmanager
def _xlsx_open(content: bytes, limits: SheetLimits) -> Iterator[Sheet]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SheetRefused(UNREADABLE, UNREADABLE_MESSAGE) from exc
    with archive:
        parts = archive.infolist()
        if len(parts) > limits.max_parts:
            raise SheetRefused(TOO_LARGE, f"文件结构异常（包含 {len(parts)} 个部件），请另存为普通的 XLSX 文件。")
        unzipped = sum(part.file_size for part in parts)
        if unzipped > limits.max_unzipped_bytes:
            raise SheetRefused(
                TOO_LARGE,
                f"文件解压后约 {unzipped // MB} MB，超过上限 {limits.max_unzipped_bytes // MB} MB"
                f"（一次最多导入 {limits.max_rows} 行；是否有超长的单元格？），请拆分文件。",
            )
        scans = _xlsx_scan(archive, limits)
    try:
        # Read-only: rows are parsed as they are asked for. data_only: a formula's cached value.
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # untrusted input: whatever openpyxl trips over is the file's fault
        raise SheetRefused(UNREADABLE, UNREADABLE_MESSAGE) from exc
    try:
        worksheet = book.active
        scan = scans.get(getattr(worksheet, "_worksheet_path", ""))
        if not isinstance(worksheet, ReadOnlyWorksheet) or scan is None or not scan.header_line:
            raise SheetRefused(UNREADABLE, "无法读取文件：第一个工作表是空的（没有表头行）。")

        def lines(start: int) -> Iterator[tuple[int, list[Any]]]:
            if start > scan.last_line:
                return
            line = start - 1
            try:
                for line, values in enumerate(
                    worksheet.iter_rows(
                        min_row=start, max_row=scan.last_line, max_col=scan.max_column, values_only=True
                    ),
                    start=start,
                ):
                    yield line, list(values)
            except SheetRefused:
                raise
            except Exception as exc:  # untrusted input (a date beyond the calendar, a broken cell)
                raise SheetRefused(UNREADABLE, f"无法读取文件第 {line + 1} 行。") from exc

        header = next(lines(scan.header_line), (0, []))[1]
        yield Sheet(
            headers=header,
            header_line=scan.header_line,
            last_line=scan.last_line,
            data_rows=scan.data_rows,
            _lines=lines,
        )
    finally:
        book.close()


class _Skip(Exception):
    """Stops the scan of a part that is neither a worksheet nor the shared strings."""


@dataclass
class _SharedStrings:
    long: set[int] = field(default_factory=set)  # indexes of strings over the cell bound
    blank: set[int] = field(default_factory=set)  # indexes of empty or whitespace-only strings


@dataclass
class _SheetScan:
    header_line: int = 0
    last_line: int = 0
    data_rows: int = 0
    max_column: int = 1


def _xlsx_scan(archive: zipfile.ZipFile, limits: SheetLimits) -> dict[str, _SheetScan]:
    """Scan the shared strings, then every worksheet; worksheet part name → what was found."""
    worksheets = []
    shared = _SharedStrings()
    for part in archive.infolist():
        if part.is_dir() or not part.filename.lower().endswith((".xml", ".rels")):
            continue
        root = _part_root(archive, part)
        if root == "sst":
            _scan_part(archive, part, _SharedStringsScanner(limits, shared))
        elif root == "worksheet":
            worksheets.append(part)
    scans = {}
    for part in worksheets:
        scanner = _WorksheetScanner(limits, shared)
        _scan_part(archive, part, scanner)
        scans[part.filename] = scanner.result
    return scans


def _part_root(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> str:
    found: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        found.append(_local(name))
        raise _Skip

    with suppress(_Skip):
        _parse(archive, part, start=start)
    return found[0] if found else ""


def _scan_part(archive: zipfile.ZipFile, part: zipfile.ZipInfo, scanner: Any) -> None:
    _parse(archive, part, start=scanner.start, end=scanner.end, text=scanner.text)


def _parse(archive: zipfile.ZipFile, part: zipfile.ZipInfo, *, start: Any, end: Any = None, text: Any = None) -> None:
    # No namespace processing (it costs a string split per element): SpreadsheetML's elements are
    # matched by local name, with or without a prefix (_local).
    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    if text is not None:
        parser.CharacterDataHandler = text
        parser.buffer_text = True
        parser.buffer_size = 64 * 1024

    def refuse_dtd(*args: Any) -> None:
        # A DTD is how entity-expansion bombs come in; no spreadsheet application writes one.
        raise SheetRefused(UNREADABLE, "无法读取文件：文件中包含不支持的 XML 声明（DTD）。")

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    try:
        with archive.open(part) as stream:
            while chunk := stream.read(256 * 1024):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except (expat.ExpatError, zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: an encrypted part; NotImplementedError: a compression zipfile cannot undo.
        raise SheetRefused(UNREADABLE, UNREADABLE_MESSAGE) from exc


def _local(name: str) -> str:
    return name.rpartition(":")[2] if ":" in name else name


class _SharedStringsScanner:
    """Counts the shared strings and their characters; notes which are too long or blank (the
    worksheet scan names the cell that uses one)."""

    def __init__(self, limits: SheetLimits, shared: _SharedStrings) -> None:
        self.limits = limits
        self.shared = shared
        self.index = -1
        self.in_text = False
        self.chars = 0
        self.filled = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "si":
            self.index += 1
            if self.index >= self.limits.max_shared_strings:
                raise SheetRefused(TOO_LARGE, f"文件中的文字过多，一次最多导入 {self.limits.max_rows} 行，请拆分文件。")
            self.chars, self.filled = 0, False
        elif local == "t":
            self.in_text = True

    def end(self, name: str) -> None:
        local = _local(name)
        if local == "t":
            self.in_text = False
        elif local == "si":
            if self.chars > self.limits.max_cell_chars:
                self.shared.long.add(self.index)
            if not self.filled:
                self.shared.blank.add(self.index)

    def text(self, data: str) -> None:
        if self.in_text:
            self.chars += len(data)
            self.filled = self.filled or bool(data.strip())


class _WorksheetScanner:
    """Walks a worksheet's rows and cells without keeping their text (see the module docstring)."""

    def __init__(self, limits: SheetLimits, shared: _SharedStrings) -> None:
        self.limits = limits
        self.shared = shared
        self.result = _SheetScan()
        self.line = 0
        self.column = 0
        self.row_filled = False
        self.cell_shared = False
        self.cell_chars = 0
        self.cell_filled = False
        self.index_text = ""
        self.in_value = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        # The hot path (a few calls per cell): the local name inline, column numbers cached.
        local = name.rpartition(":")[2] if ":" in name else name
        if local == "c":
            reference = attrs.get("r")
            self.column = _column_of(reference) if reference else self.column + 1
            if self.column > self.limits.max_columns:
                raise _too_many_columns(self.limits, self.line, self.column)
            self.cell_shared = attrs.get("t") == "s"
            self.cell_chars, self.cell_filled, self.index_text = 0, False, ""
        elif local in ("v", "t"):
            self.in_value = True
        elif local == "row":
            reference = attrs.get("r", "")
            self.line = int(reference) if reference.isdigit() else self.line + 1
            if self.line > self.limits.max_lines:
                raise _too_many_lines(self.limits, self.line)
            self.column, self.row_filled = 0, False
        elif local == "dimension":
            self._dimension(attrs.get("ref", ""))

    def end(self, name: str) -> None:
        local = name.rpartition(":")[2] if ":" in name else name
        if local in ("v", "t"):
            self.in_value = False
        elif local == "c":
            self._cell_end()
        elif local == "row" and self.row_filled:
            self._row_end()

    def text(self, data: str) -> None:
        if not self.in_value:
            return
        self.cell_chars += len(data)
        if self.cell_chars > self.limits.max_cell_chars:
            raise _cell_too_long(self.limits, self.line, self.column)
        if self.cell_shared:
            self.index_text += data[:16]
        elif not self.cell_filled:
            self.cell_filled = bool(data.strip())

    def _cell_end(self) -> None:
        if self.cell_shared:
            index = int(self.index_text) if self.index_text.strip().isdigit() else -1
            if index in self.shared.long:
                raise _cell_too_long(self.limits, self.line, self.column)
            self.cell_filled = index >= 0 and index not in self.shared.blank
        if self.cell_filled:
            self.row_filled = True
            self.result.max_column = max(self.result.max_column, self.column)

    def _row_end(self) -> None:
        result = self.result
        if not result.header_line:
            result.header_line = self.line
        else:
            result.data_rows += 1
            if result.data_rows > self.limits.max_rows:
                raise too_many_rows(self.limits)
        result.last_line = self.line

    def _dimension(self, ref: str) -> None:
        """The range the file says it uses, before its first row: refused at once if too big."""
        try:
            _min_col, _min_row, max_col, max_row = range_boundaries(ref.upper())
        except (ValueError, TypeError):
            return  # no usable <dimension>: the rows are counted as they come
        if max_row is not None and max_row > self.limits.max_lines:
            raise SheetRefused(
                TOO_MANY_ROWS,
                f"一次最多导入 {self.limits.max_rows} 行，此文件的表格范围（{ref}）有 {max_row} 行，"
                f"请拆分文件或删除多余的空行。",
            )
        if max_col is not None and max_col > self.limits.max_columns:
            raise SheetRefused(
                TOO_MANY_COLUMNS,
                f"表格最多 {self.limits.max_columns} 列，此文件的表格范围（{ref}）有 {max_col} 列。",
            )


@functools.lru_cache(maxsize=1024)
def _column_number(letters: str) -> int:
    if not _COLUMN_LETTERS.fullmatch(letters):
        raise SheetRefused(UNREADABLE, UNREADABLE_MESSAGE)
    return column_index_from_string(letters.upper())


def _column_of(reference: str) -> int:
    """The column number of a cell reference such as "B7"."""
    return _column_number(reference.rstrip("0123456789"))
