"""The back office's upload pages: dealers with their regions and a printer's own codes, imported
as background jobs through the bounded spreadsheet reader, with progress and row errors in
Chinese; and the diversion digest mailed once per brand day, in the brand's own time."""

import datetime as dt
import io
import re
import zoneinfo
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import Workbook

from crm.db import connection
from crm.spreadsheets.reading import SheetLimits
from members.models import Store
from scancodes import claim_keys, imports
from scancodes.digest import digest_day_due, diversion_digest_send_due
from scancodes.models import Code, CodeBatch, CodeImport, Dealer, DigestSend
from scancodes.services import batch_generate, code_claim
from tests.factories import MemberFactory

from .conftest import GUANGZHOU, ctx, secret

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(client: Any, url: str, content: bytes, name: str, **fields: str) -> Any:
    return client.post(url, {"file": SimpleUploadedFile(name, content), **fields})


def _worker(brand: Any) -> None:
    """What the worker does with the queued message (scancodes.import_run): run the job."""
    connection.set_tenant(brand)
    for job in CodeImport.objects.filter(status=CodeImport.Status.QUEUED):
        assert imports.code_import_run(job_id=job.pk) in ("done", "failed")


def test_dealers_upload_imports_good_rows_and_lists_bad_ones_in_chinese(
    admin_client_a, brand_a, django_capture_on_commit_callbacks
):
    connection.set_tenant(brand_a)
    Store.objects.create(code="S-HZ", name="杭州店")
    Dealer.objects.create(code="D-OLD", name="旧名字")
    content = (
        "经销商编码,经销商名称,销售区域,区域包含的省市,门店编码,分配给门店导购,有效\n"
        "D-ZJ,浙江经销商,华东区,浙江、上海,S-HZ,是,是\n"
        "D-OLD,新名字,华南区,广东 广西,,,\n"
        ",无编码,,,,,\n"
        "D-X,未知门店,,,S-NONE,,\n"
        "D-Y,错的是否,,,,也许,\n"
        "D-ZJ,重复,,,,,\n"
    ).encode()
    with django_capture_on_commit_callbacks() as queued:
        response = _upload(admin_client_a, "/admin/scancodes/dealer/import/", content, "dealers.csv")
    assert len(queued) == 1
    _worker(brand_a)
    assert response.status_code == 302, response.content.decode()[:3000]
    page = admin_client_a.get(response["Location"]).content.decode()
    assert "导入完成：新增 1 个，更新 1 个，错误 4 行" in page
    for text in (
        "经销商编码和经销商名称必填",
        "门店编码 S-NONE 不存在",
        "“分配给门店导购”请填 是 或 否",
        "与第 2 行重复",
    ):
        assert text in page
    connection.set_tenant(brand_a)
    zj = Dealer.objects.get(code="D-ZJ")
    assert (zj.region_areas, zj.store.code, zj.assign_owner) == (["浙江", "上海"], "S-HZ", True)
    assert Dealer.objects.get(code="D-OLD").region_areas == ["广东", "广西"]
    assert not Dealer.objects.filter(code__in=["D-X", "D-Y"]).exists()
    job = CodeImport.objects.get()
    assert job.content == b"" and [e["line"] for e in job.row_errors] == [4, 5, 6, 7]


def test_dealers_import_reads_xlsx_and_a_rerun_only_updates(in_brand_a):
    content = _xlsx([["经销商编码", "经销商名称", "区域包含的省市"], ["D-1", "一号", "江苏"], ["D-2", "二号", "安徽"]])
    first = imports.code_import_now(kind="dealers", content=content, filename="d.xlsx", actor="t")
    again = imports.code_import_now(kind="dealers", content=content, filename="d.xlsx", actor="t")
    assert (first.status, first.created, first.updated) == ("succeeded", 2, 0)
    assert (again.created, again.updated, Dealer.objects.count()) == (0, 2, 2)


def test_an_upload_over_the_bounds_is_refused_on_the_page_and_queues_nothing(admin_client_a, brand_a, monkeypatch):
    monkeypatch.setattr(imports, "DEALER_LIMITS", SheetLimits(max_rows=2, max_columns=20))
    content = "经销商编码,经销商名称\nA,a\nB,b\nC,c\n".encode()
    page = _upload(admin_client_a, "/admin/scancodes/dealer/import/", content, "big.csv").content.decode()
    assert "一次最多导入 2 行" in page
    header_missing = _upload(admin_client_a, "/admin/scancodes/dealer/import/", b"x,y\n1,2\n", "x.csv")
    assert "表头须包含：经销商编码、经销商名称" in header_missing.content.decode()
    connection.set_tenant(brand_a)
    assert not CodeImport.objects.exists()


def test_a_printers_file_with_bad_rows_writes_nothing_and_names_every_row(
    admin_client_a, brand_a, django_capture_on_commit_callbacks
):
    connection.set_tenant(brand_a)
    taken = batch_generate(sku="SKU-T", product_name="已有", quantity=1, actor="t").first_serial
    content = (
        f"序列号,验证码\n900000000001,ABCDEFGHJKLMNPQRSTUV\nabc,ABCDEFGHJKLMNPQRSTUV\n900000000002,SHORT\n"
        f"900000000001,BCDEFGHJKLMNPQRSTUVW\n{taken},CDEFGHJKLMNPQRSTUVWX\n"
    ).encode()
    with django_capture_on_commit_callbacks() as queued:
        response = _upload(
            admin_client_a,
            "/admin/scancodes/codebatch/import/",
            content,
            "printer.csv",
            sku="SKU-P",
            product_name="印厂码",
        )
    assert len(queued) == 1
    _worker(brand_a)
    assert response.status_code == 302, response.content.decode()[:3000]
    page = admin_client_a.get(response["Location"]).content.decode()
    assert "文件中有 4 行错误，整份文件未导入" in page
    for text in (
        "序列号须为正整数",
        "验证码至少 16 位",
        "序列号 900000000001 与第 2 行重复",
        f"序列号 {taken} 已被其他批次使用",
    ):
        assert text in page
    connection.set_tenant(brand_a)
    assert not CodeBatch.objects.filter(origin=CodeBatch.Origin.IMPORTED).exists()
    assert not Code.objects.filter(serial=900000000001).exists()


def test_a_printers_xlsx_without_header_becomes_one_hashed_batch_with_provenance(
    admin_client_a, brand_a, django_capture_on_commit_callbacks
):
    rows = [[900000000100 + n, claim_keys.secret_for(b"k" * 32, n)] for n in range(50)]
    content = _xlsx(rows)
    with django_capture_on_commit_callbacks() as queued:
        response = _upload(
            admin_client_a,
            "/admin/scancodes/codebatch/import/",
            content,
            "印厂.xlsx",
            sku="SKU-P",
            product_name="印厂码",
            note="印厂 A 单号 77",
        )
    assert len(queued) == 1
    _worker(brand_a)
    page = admin_client_a.get(response["Location"]).content.decode()
    assert "导入完成：批次" in page and "50 个码" in page
    connection.set_tenant(brand_a)
    batch = CodeBatch.objects.get(origin=CodeBatch.Origin.IMPORTED)
    assert (batch.quantity, batch.first_serial, batch.last_serial) == (50, 900000000100, 900000000149)
    assert (
        batch.import_filename == "印厂.xlsx"
        and batch.import_note == "印厂 A 单号 77"
        and len(batch.import_sha256) == 64
    )
    stored = bytes(Code.objects.get(serial=900000000100).secret_hash)
    assert claim_keys.secret_matches_imported(stored, 900000000100, rows[0][1])
    job = CodeImport.objects.get()
    assert imports.code_import_run(job_id=job.pk) == "already_done"
    assert Code.objects.filter(batch=batch).count() == 50


def test_a_code_job_resumed_after_its_write_committed_does_not_write_again(in_brand_a):
    job = imports.code_import_now(
        kind="codes",
        content=b"900000000300,ABCDEFGHJKLMNPQRSTUV\n",
        filename="p.csv",
        actor="t",
        options={"sku": "S", "product_name": "P"},
    )
    # As if the worker died after the commit and before the message was acknowledged.
    CodeImport.objects.filter(pk=job.pk).update(status=CodeImport.Status.RUNNING)
    assert imports.code_import_run(job_id=job.pk) == "done"
    assert Code.objects.filter(serial=900000000300).count() == 1 and CodeBatch.objects.count() == 1


def test_the_upload_pages_need_the_permission(client_a, admin_client_a, brand_a):
    assert admin_client_a.get("/admin/scancodes/dealer/import/").status_code == 200
    template = admin_client_a.get("/admin/scancodes/codebatch/import/template.csv")
    assert template.content.decode("utf-8-sig").startswith("序列号,验证码")
    assert "导入经销商" in admin_client_a.get("/admin/scancodes/dealer/").content.decode()
    assert client_a.get("/admin/scancodes/dealer/import/").status_code == 302  # to the login


# --- the digest -----------------------------------------------------------------------------------


@pytest.fixture
def diverted_yesterday(batch: CodeBatch, brand_a: Any) -> dt.date:
    """Two claims in 广州 of codes meant for 浙江, on the brand day that is 'yesterday' below."""
    assert batch.first_serial is not None
    for n in range(2):
        serial = batch.first_serial + n
        code_claim(serial=serial, secret=secret(batch, serial), member=MemberFactory.create(), ctx=ctx(ip=GUANGZHOU))
    return timezone.now().astimezone(SHANGHAI).date()


def test_the_digest_is_mailed_once_from_eight_brand_time_to_those_who_see_alerts(diverted_yesterday, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    day = diverted_yesterday
    get_user_model().objects.create_user(username="clerk", email="clerk@alpha.example")  # no permission
    before = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(7, 59), SHANGHAI)
    at_eight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(8, 20), SHANGHAI)
    assert digest_day_due(now=before) == day - dt.timedelta(days=1)
    assert diversion_digest_send_due(now=before)["outcome"] == "empty"
    assert mail.outbox == []

    assert diversion_digest_send_due(now=at_eight)["outcome"] == "sent"
    assert diversion_digest_send_due(now=at_eight + dt.timedelta(hours=1))["outcome"] == "already_done"
    (message,) = mail.outbox
    assert message.to == ["admin@alpha.example"]
    assert f"窜货日报 {day:%Y-%m-%d}：2 条预警" in message.subject
    assert re.search(r"浙江经销商（计划区域 浙江）：2 条，\d\d:\d\d(–\d\d:\d\d)?，扫码地 广州市", message.body)
    assert "时间均为品牌当地时间" in message.body
    row = DigestSend.objects.get(day=day)
    assert (row.status, row.alerts, row.recipients) == ("sent", 2, ["admin@alpha.example"])


def test_a_refused_send_stays_pending_and_the_next_tick_sends_it(diverted_yesterday, settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    at_nine = dt.datetime.combine(diverted_yesterday + dt.timedelta(days=1), dt.time(9, 20), SHANGHAI)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr("scancodes.digest.send_mail", refuse)
    assert diversion_digest_send_due(now=at_nine)["outcome"] == "failed"
    assert DigestSend.objects.get(day=diverted_yesterday).last_error.startswith("OSError")
    monkeypatch.undo()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert diversion_digest_send_due(now=at_nine + dt.timedelta(hours=1))["outcome"] == "sent"
    assert len(mail.outbox) == 1 and DigestSend.objects.get(day=diverted_yesterday).attempts == 2


def test_the_beat_entry_fans_the_digest_out_to_every_brand(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["scancodes-diversion-digest"]
    assert entry["task"] == "tenancy.run_in_every_brand" and entry["args"] == ["scancodes.diversion_digest_send"]
    from crm.celery import app

    assert "scancodes.diversion_digest_send" in app.tasks
