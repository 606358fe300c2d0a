"""crm.spreadsheets.reading reads CSV the way people save it: UTF-8 (with or without Excel's BOM)
or, from Excel on a Chinese Windows, GBK."""

import pytest

from crm.spreadsheets.reading import SheetLimits, SheetRefused, sheet_open

ROWS = "姓名,手机号\n林小雨,13800000001\n王芳,13800000002\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_a_csv_saved_by_excel_in_any_of_its_encodings_reads_the_same(encoding):
    with sheet_open(content=ROWS.encode(encoding), filename="会员.csv", limits=SheetLimits(max_rows=10)) as sheet:
        assert sheet.headers == ["姓名", "手机号"]
        assert [row for _line, row in sheet.rows()] == [["林小雨", "13800000001"], ["王芳", "13800000002"]]


def test_bytes_that_are_no_text_are_refused():
    with (
        pytest.raises(SheetRefused),
        sheet_open(content=b"\xff\xfe\x00\x81\x30", filename="x.csv", limits=SheetLimits(max_rows=10)),
    ):
        pass
