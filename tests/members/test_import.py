"""Member import: each row enrols through member_enroll on its own; bad rows are reported and
write nothing; re-importing is harmless; store users import only into their store."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from consent.models import ConsentRecord
from crm.errors import AppError
from members import error_codes
from members.imports import members_import_file
from members.models import Identity, Member
from members.roles import STORE_MANAGER
from tests.conftest import logged_in_client
from tests.factories import StoreFactory

from .conftest import staff_user_create
from .import_jobs import import_job_followed, job_rows

HEADER = "手机号,姓名,性别,生日,门店编码,导购企业微信ID,同意会员协议,同意短信营销,授权凭证编号,天猫 OUID\n"


def _csv(*rows: str) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode("utf-8-sig")


@pytest.fixture
def brand_admin_user(in_brand_a):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="admin@alpha.example")


def test_happy_path_and_row_errors(brand_admin_user, agreement_version_a, store_a, staff_a):
    content = _csv(
        "13800000001,张伟,男,1988-02-03,SH001,wang,是,是,P-0001,tm-1",
        "13800000002,李娜,女,,SH001,,是,否,P-0002,",
        "12345,坏号码,男,,SH001,,是,否,P-0003,",  # bad mobile
        "13800000004,无凭证,女,,SH001,,是,否,,",  # no paper evidence
        "13800000005,拒绝,女,,SH001,,否,否,P-0005,",  # refused the membership terms
        "13800000006,错门店,女,,XX999,,是,否,P-0006,",  # unknown store
        "13800000007,错生日,女,1990/13/40,SH001,,是,否,P-0007,",  # bad date
        "13800000008,撞号,女,,SH001,,是,否,P-0008,tm-1",  # identity already taken by row 2
    )
    report = members_import_file(
        content=content, filename="members.csv", user=brand_admin_user, staff=None, actor="admin"
    )

    assert [(row.line, row.status) for row in report.rows] == [
        (2, "created"),
        (3, "created"),
        (4, "error"),
        (5, "error"),
        (6, "error"),
        (7, "error"),
        (8, "error"),
        (9, "existing"),
    ]
    assert report.created == 2 and report.existing == 1 and len(report.errors) == 5
    assert "手机号" in report.rows[2].message
    assert report.rows[7].member_no == report.rows[0].member_no
    first = Member.objects.get(mobile="+8613800000001")
    assert (first.name, first.gender, first.assigned_staff) == ("张伟", "male", staff_a)
    assert Identity.objects.filter(member=first, kind="tmall_ouid", value="tm-1").exists()
    record = ConsentRecord.objects.get(member=first, purpose="membership")
    assert record.channel == "import" and record.evidence["partner_reference"] == "P-0001" and record.evidence["paper"]
    # Nothing of a bad row was written.
    for mobile in ("+8613800000004", "+8613800000005", "+8613800000006", "+8613800000007", "+8613800000008"):
        assert not Member.objects.filter(mobile=mobile).exists()
        assert not Identity.objects.filter(value=mobile).exists()


def test_reimporting_the_same_file_changes_nothing(brand_admin_user, agreement_version_a, store_a):
    content = _csv("13800000001,张伟,男,,SH001,,是,否,P-1,")
    members_import_file(content=content, filename="a.csv", user=brand_admin_user, staff=None, actor="a")
    before = (Member.objects.count(), ConsentRecord.objects.count())
    report = members_import_file(content=content, filename="a.csv", user=brand_admin_user, staff=None, actor="a")
    assert [row.status for row in report.rows] == ["existing"]
    assert (Member.objects.count(), ConsentRecord.objects.count()) == before


def test_xlsx_is_read_including_numeric_mobiles(brand_admin_user, agreement_version_a, store_a):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["手机号", "姓名", "门店编码", "同意会员协议", "授权凭证编号"])
    sheet.append([13800000009, "王芳", "SH001", "是", "P-9"])
    buffer = io.BytesIO()
    book.save(buffer)
    report = members_import_file(
        content=buffer.getvalue(), filename="m.xlsx", user=brand_admin_user, staff=None, actor="a"
    )
    assert [row.status for row in report.rows] == ["created"]
    assert Member.objects.filter(mobile="+8613800000009", home_store=store_a).exists()


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"name,city\nx,y\n", "a.csv"),  # no mobile column
        (b"mobile,shoe_size\n13800000001,42\n", "a.csv"),  # unknown column
        (b"\xff\xfe\x00garbage", "a.csv"),  # not UTF-8
        (b"whatever", "a.pdf"),
    ],
)
def test_unreadable_files_are_refused_as_a_whole(brand_admin_user, content, filename):
    with pytest.raises(AppError) as caught:
        members_import_file(content=content, filename=filename, user=brand_admin_user, staff=None, actor="a")
    assert caught.value.code == error_codes.IMPORT_INVALID
    assert Member.objects.count() == 0


def test_store_manager_imports_only_into_their_store_through_the_admin(
    in_brand_a, agreement_version_a, store_a, brand_a
):
    StoreFactory(code="HZ001", name="杭州店", city="杭州")
    staff_user_create(store=store_a, role=STORE_MANAGER, username="manager@alpha.example")
    client = logged_in_client("alpha", "manager@alpha.example")
    upload = SimpleUploadedFile(
        "m.csv",
        _csv(
            "13800000001,本店,女,,,,是,否,P-1,",  # blank store: the manager's own
            "13800000002,外店,女,,HZ001,,是,否,P-2,",
        ),
        content_type="text/csv",
    )
    response = client.post(reverse("admin:members_member_import"), {"file": upload})

    job, page = import_job_followed(client, response, brand_a)
    rows = job_rows(job)
    assert [row.status for row in rows] == ["created", "error"]
    assert "本门店" in rows[1].message
    assert "导入完成：新入会 1 人，已是会员 0 人，错误 1 行。" in page.content.decode()
    assert Member.objects.get(mobile="+8613800000001").home_store == store_a
    assert not Member.objects.filter(mobile="+8613800000002").exists()
