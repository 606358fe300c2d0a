"""Code pools from the back office: generate N codes (no 0/O/1/I) or import the brand's file of
codes (CSV/XLSX, stored hashed) as a background job with progress; a file with bad rows or
duplicates is refused whole with the rows named in Chinese; the bounds of the member imports hold."""

import io

import pytest
from django.urls import reverse
from openpyxl import Workbook

from coupons import pool_jobs
from coupons.models import CouponCode, CouponPoolJob, CouponTemplate
from coupons.pool_jobs import coupon_pool_job_run
from coupons.rules import ALPHABET, code_hash
from coupons.services import coupon_codes_import, coupon_issue
from tests.factories import MemberFactory

from .scene import audit_clean, fixed_clock, template

pytestmark = pytest.mark.usefixtures("fixed_clock")
__all__ = ["fixed_clock"]


def _upload(name: str, content: bytes) -> io.BytesIO:
    file = io.BytesIO(content)
    file.name = name
    return file


def _xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_generating_a_pool_is_a_background_job_in_chunks_with_progress(
    in_brand_a, admin_client_a, monkeypatch, django_capture_on_commit_callbacks
):
    tpl = template(code_mode=CouponTemplate.CodeMode.GENERATED, generic_code="")
    monkeypatch.setattr(pool_jobs, "GENERATE_CHUNK", 40)
    url = reverse("admin:coupons_coupontemplate_pool", args=[tpl.pk])
    assert "不含易混淆的 0、O、1、I" in admin_client_a.get(url).content.decode()

    with django_capture_on_commit_callbacks() as sent:
        response = admin_client_a.post(url, {"count": "100"})
    job = CouponPoolJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/pool/{job.pk}/")
    assert len(sent) == 1 and not CouponCode.objects.exists()  # queued, not done in the request
    page = admin_client_a.get(response["Location"]).content.decode()
    assert "排队中" in page and 'http-equiv="refresh"' in page

    assert coupon_pool_job_run(job_id=job.pk) == "done"
    job.refresh_from_db()
    tpl.refresh_from_db()
    assert (job.status, job.done, tpl.stock_total, tpl.stock_left) == ("succeeded", 100, 100, 100)
    codes = list(CouponCode.objects.values_list("code", flat=True))
    assert len(set(codes)) == 100 and all(len(c) == 16 and set(c) <= set(ALPHABET) for c in codes)
    assert not set("01OI") & set("".join(codes))
    page = admin_client_a.get(response["Location"]).content.decode()
    assert "已完成：券码池新增 100 个券码。" in page and 'http-equiv="refresh"' not in page
    assert coupon_pool_job_run(job_id=job.pk) == "already_done"
    assert CouponCode.objects.count() == 100


def test_importing_a_file_of_codes_stores_hashes_and_feeds_the_pool(
    in_brand_a, admin_client_a, monkeypatch, django_capture_on_commit_callbacks
):
    tpl = template(code_mode=CouponTemplate.CodeMode.IMPORTED, generic_code="")
    monkeypatch.setattr(pool_jobs, "IMPORT_CHUNK", 2)
    content = _xlsx([["券码"], ["brand-0001-aa"], ["BRAND0002AA"], ["brand 0003 aa"], [""], ["BRAND0004AA"]])
    url = reverse("admin:coupons_coupontemplate_pool", args=[tpl.pk])
    with django_capture_on_commit_callbacks():
        response = admin_client_a.post(url, {"file": _upload("codes.xlsx", content)})
    assert response.status_code == 302, response.content.decode()[:2000]
    job = CouponPoolJob.objects.get()
    assert job.count == 4

    assert coupon_pool_job_run(job_id=job.pk) == "done"
    job.refresh_from_db()
    assert (job.status, job.checked, job.done, bytes(job.content)) == ("succeeded", 4, 4, b"")
    stored = CouponCode.objects.get(code_hash=code_hash("BRAND0001AA"))
    assert (stored.code, stored.hint) == ("", "01AA")  # only the hash and the last 4
    member = MemberFactory.create()
    coupon = coupon_issue(template_id=tpl.pk, member_id=member.pk, source="admin", source_key="k", actor="boss")
    assert coupon.code_hash == code_hash("BRAND0001AA")
    audit_clean()


def test_a_file_with_bad_rows_or_duplicates_is_refused_whole_with_the_rows_named(
    in_brand_a, admin_client_a, django_capture_on_commit_callbacks
):
    tpl = template(code_mode=CouponTemplate.CodeMode.IMPORTED, generic_code="")
    coupon_codes_import(template_id=tpl.pk, codes=["ALREADY0001"])
    csv = "券码\nGOOD00001\nshort\nGOOD00002\ngood-00001\n含中文的券码1\nalready0001\n".encode()
    url = reverse("admin:coupons_coupontemplate_pool", args=[tpl.pk])
    with django_capture_on_commit_callbacks():
        response = admin_client_a.post(url, {"file": _upload("codes.csv", csv)})
    job = CouponPoolJob.objects.get()

    assert coupon_pool_job_run(job_id=job.pk) == "failed"
    job.refresh_from_db()
    assert job.errors == 4 and CouponCode.objects.count() == 1  # nothing added
    assert job.row_errors == [
        [3, "券码须为 6–32 位字母或数字（本行为 5 个字符）。"],
        [5, "与第 2 行的券码重复。"],
        [6, "券码须为 6–32 位字母或数字（本行为 7 个字符，含其他符号）。"],
        [7, "券码已存在于券码池中（本券或其他优惠券），不能重复导入。"],
    ]
    page = admin_client_a.get(response["Location"]).content.decode()
    assert "文件中有 4 行有误，未导入任何券码" in page and "第 5 行" in page and "与第 2 行的券码重复。" in page


def test_files_past_the_bounds_or_without_a_code_column_are_refused_at_upload(in_brand_a, admin_client_a):
    tpl = template(code_mode=CouponTemplate.CodeMode.IMPORTED, generic_code="")
    url = reverse("admin:coupons_coupontemplate_pool", args=[tpl.pk])
    cases = [
        ("codes.txt", b"CODE1234", "只支持 CSV 或 XLSX 文件。"),
        ("codes.csv", "姓名,手机\n张三,138\n".encode(), "找不到券码列"),
        ("codes.csv", "券码\n".encode(), "文件中没有券码"),
        ("codes.csv", ("券码\n" + "X" * 500 + "\n").encode(), "超过 200 个字符"),
    ]
    for name, content, words in cases:
        page = admin_client_a.post(url, {"file": _upload(name, content)}).content.decode()
        assert words in page, name
    assert not CouponPoolJob.objects.exists()
    # A generic-code template has no pool; a generated pool is not imported into.
    generic = template(name="通用")
    assert admin_client_a.get(reverse("admin:coupons_coupontemplate_pool", args=[generic.pk])).status_code == 302
