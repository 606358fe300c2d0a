"""The referral graph export for a regulator (depth, rewards, reversals) runs in the background
through the project's export mechanism (crm.jobs.exports, as the performance report's): the graph
page queues it with its filters, a task builds it with progress, the 邀请关系导出 list shows the
status and a download link. Permissioned like the graph page; a file with members in full only
downloads for viewers who may see members in full."""

import csv
import io
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_tenants.utils import schema_context
from openpyxl import load_workbook

from crm.db import connection
from crm.tenancy.models import Brand
from engagement.models import ReferralExport
from engagement.services.referral import referral_bind, referral_link_get
from engagement.services.referral_export import referral_export_request, referral_export_run
from tests.conftest import logged_in_client
from tests.members.loyalty_scene import program

from .scene import rules
from .test_referral import campaign, person

GRAPH = "/admin/engagement/referral/graph/"
EXPORTS = "/admin/engagement/referralexport/"


@pytest.fixture
def graph(in_brand_a):
    program()
    rules()
    spring = campaign()
    referrer = person("u-ref", name="王大锤")
    for n, name in enumerate(("韩梅梅", "李雷")):
        referral_bind(
            invitee=person(f"u-new{n}", name=name), token=referral_link_get(member=referrer).token, device="d"
        )
    return spring, referrer


def test_the_graph_page_queues_the_export_and_the_list_offers_the_file(graph, admin_client_a, brand_a):
    spring, referrer = graph
    queued = admin_client_a.post(
        f"{GRAPH}?campaign={spring.pk}&referrer={referrer.member_no.lower()}", {"format": "csv"}
    )
    assert queued.status_code == 302 and queued["Location"] == EXPORTS
    connection.set_tenant(brand_a)
    export = ReferralExport.objects.get()
    assert (export.campaign_id, export.referrer_no, export.file_format) == (spring.pk, referrer.member_no, "csv")
    assert export.full_pi and export.status == ReferralExport.Status.QUEUED  # the brand admin sees members in full
    listing = admin_client_a.get(EXPORTS).content.decode()
    assert "排队中" in listing and "春季邀请有礼" in listing and "下载 CSV" not in listing

    assert referral_export_run(export_id=export.pk) == "done"
    assert referral_export_run(export_id=export.pk) == "already taken"  # a re-delivered task
    export.refresh_from_db()
    assert (export.rows, export.referrals_total, export.referrals_done, export.progress_pct) == (2, 2, 2, 100)
    listing = admin_client_a.get(EXPORTS).content.decode()
    assert "已完成" in listing and "下载 CSV" in listing
    download = admin_client_a.get(reverse("admin:engagement_referralexport_download", args=[export.pk]))
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["邀请人", "受邀人", "层级"]
    assert len(rows) == 3 and {r[2] for r in rows[1:]} == {"1"}  # one level, by design
    assert any("韩梅梅" in r[1] for r in rows[1:])  # in full: the requester may see members in full


def test_the_export_is_built_with_the_filters_and_as_xlsx(graph, brand_a):
    spring, _ = graph
    export = referral_export_request(actor="tester", full_pi=False, referrer_no="M-NOBODY")
    referral_export_run(export_id=export.pk)
    export.refresh_from_db()
    assert (export.status, export.rows) == (ReferralExport.Status.DONE, 0)
    masked = referral_export_request(actor="tester", full_pi=False, campaign=spring)
    referral_export_run(export_id=masked.pk)
    masked.refresh_from_db()
    sheet = load_workbook(io.BytesIO(bytes(masked.content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "邀请人" and len(rows) == 3
    assert not any("韩梅梅" in str(cell) for row in rows for cell in row)  # masked


def test_who_may_not_see_the_graph_may_not_export_it_nor_download_a_full_file(graph, admin_client_a, brand_a):
    with schema_context(brand_a.schema_name):
        export = referral_export_request(actor="boss", full_pi=True)
        referral_export_run(export_id=export.pk)
        viewer = get_user_model().objects.create_user(username="viewer", password="x-Secret-2026", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_referral"))
        get_user_model().objects.create_user(username="clerk", password="x-Secret-2026", is_staff=True)
    manager = logged_in_client("alpha", "clerk")  # staff without the referral graph
    assert manager.post(GRAPH, {"format": "xlsx"}).status_code == 403
    assert manager.get(EXPORTS).status_code == 403
    url = reverse("admin:engagement_referralexport_download", args=[export.pk])
    assert manager.get(url).status_code in (403, 404)
    reader = logged_in_client("alpha", "viewer")  # may see the graph, masked only
    assert reader.get(EXPORTS).status_code == 200
    assert reader.get(url).status_code == 403  # the file holds members in full
    with schema_context(brand_a.schema_name):
        assert ReferralExport.objects.count() == 1  # nothing queued by the refused request
        masked = referral_export_request(actor="boss", full_pi=False)
        referral_export_run(export_id=masked.pk)
    masked_url = reverse("admin:engagement_referralexport_download", args=[masked.pk])
    assert manager.get(masked_url).status_code == 403  # a masked file is still the whole graph
    assert reader.get(masked_url).status_code == 200


@pytest.mark.worker
def test_the_export_runs_through_the_broker_and_a_worker(celery_worker):
    brand = Brand.objects.get(schema_name="alpha")
    connection.set_tenant(brand)
    try:
        export = referral_export_request(actor="tester", full_pi=False)  # dispatched when it commits
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            export.refresh_from_db()
            if export.status == ReferralExport.Status.DONE:
                break
            time.sleep(0.2)
        assert export.status == ReferralExport.Status.DONE and export.finished_at is not None
        assert load_workbook(io.BytesIO(bytes(export.content))).active.cell(1, 1).value == "邀请人"
    finally:
        ReferralExport.objects.all().delete()
        connection.set_schema_to_public()


def test_a_finished_file_is_deleted_after_the_brands_keep_days_and_the_list_offers_to_run_it_again(
    graph, admin_client_a, brand_a
):
    """PIPL: a file of members does not lie in the database for ever. Fixed clocks: made at 10:00
    on 1 March 2027 (brand time), kept 7 days by default, 3 when the brand says so."""
    import datetime as dt

    import time_machine

    from crm.jobs.tasks import exports_expire as task
    from performance.models import ReportExport

    def exports_expire():
        connection.set_tenant(brand_a)  # as the beat entry's task runs: in the brand (a request left public)
        return task()

    zone = dt.timezone(dt.timedelta(hours=8))
    made = dt.datetime(2027, 3, 1, 10, 0, tzinfo=zone)
    spring, referrer = graph
    with time_machine.travel(made, tick=False):
        export = referral_export_request(actor="boss", full_pi=True, campaign=spring, referrer_no=referrer.member_no)
        referral_export_run(export_id=export.pk)
        # Another app's export, expired by the same kernel job.
        report = ReportExport.objects.create(
            requested_by="boss",
            all_stores=True,
            start=dt.date(2027, 1, 1),
            end=dt.date(2027, 2, 28),
            status="done",
            content=b"xlsx",
            finished_at=made,
        )
    url = reverse("admin:engagement_referralexport_download", args=[export.pk])

    # (The pages are read at the real time: the admin's login would be over on the fixed days.)
    with time_machine.travel(made + dt.timedelta(days=7) - dt.timedelta(seconds=1), tick=False):
        assert exports_expire()["expired"] == {}  # 7 days are not over: still there
    listing = admin_client_a.get(EXPORTS).content.decode()
    assert "保留至 2027-03-08 10:00" in listing and "下载 XLSX" in listing
    assert admin_client_a.get(url).status_code == 200
    with time_machine.travel(made + dt.timedelta(days=7, seconds=1), tick=False):
        assert exports_expire()["expired"] == {"engagement.ReferralExport": 1, "performance.ReportExport": 1}
        assert exports_expire()["expired"] == {}  # run again: nothing more
    listing = admin_client_a.get(EXPORTS).content.decode()
    connection.set_tenant(brand_a)
    export.refresh_from_db()
    report.refresh_from_db()
    assert (export.status, bytes(export.content), export.rows) == ("expired", b"", 2)
    assert (report.status, bytes(report.content)) == ("expired", b"")
    assert "已过期（文件已于 2027-03-08 10:00 删除）" in listing and "已过期，重新生成" in listing
    assert f"{GRAPH}?campaign={spring.pk}&amp;referrer={referrer.member_no}" in listing  # its criteria
    assert admin_client_a.get(url).status_code == 404  # the file is gone
    assert admin_client_a.get(f"{GRAPH}?campaign={spring.pk}&referrer={referrer.member_no}").status_code == 200

    Brand.objects.filter(pk=brand_a.pk).update(export_keep_days=3)  # the brand keeps files 3 days
    with time_machine.travel(made, tick=False):
        short = referral_export_request(actor="boss", full_pi=False)
        referral_export_run(export_id=short.pk)
    with time_machine.travel(made + dt.timedelta(days=3, seconds=1), tick=False):
        assert exports_expire()["expired"] == {"engagement.ReferralExport": 1}


def test_an_export_left_running_by_a_killed_worker_fails_after_the_lease_and_offers_to_run_again(
    graph, admin_client_a, brand_a
):
    import datetime as dt

    import time_machine

    from crm.jobs.exports import INTERRUPTED, RUNNING_LEASE
    from crm.jobs.tasks import exports_expire

    made = dt.datetime(2027, 3, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with time_machine.travel(made, tick=False):
        export = referral_export_request(actor="boss", full_pi=False, referrer_no="M-NOBODY")
        # The worker claimed it (queued → running) and was killed before it stored anything.
        ReferralExport.objects.filter(pk=export.pk).update(status="running", updated_at=made)
    with time_machine.travel(made + RUNNING_LEASE - dt.timedelta(seconds=1), tick=False):
        connection.set_tenant(brand_a)
        assert exports_expire()["interrupted"] == {}  # it may still be building
    with time_machine.travel(made + RUNNING_LEASE + dt.timedelta(seconds=1), tick=False):
        connection.set_tenant(brand_a)
        assert exports_expire()["interrupted"] == {"engagement.ReferralExport": 1}
    export.refresh_from_db()
    assert (export.status, export.error) == ("failed", INTERRUPTED)
    assert referral_export_run(export_id=export.pk) == "already taken"  # never built late over it
    listing = admin_client_a.get(EXPORTS).content.decode()
    assert "失败：生成中断" in listing and "失败，重新生成" in listing and f"{GRAPH}?referrer=M-NOBODY" in listing


def test_the_expiry_job_is_scheduled_hourly_in_every_brand():
    from django.conf import settings

    from crm.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["jobs-exports-expire"]
    assert entry["task"] == "tenancy.run_in_every_brand" and entry["args"] == ["jobs.exports_expire"]
    app.loader.import_default_modules()
    assert "jobs.exports_expire" in app.tasks


def test_a_build_that_breaks_says_so_in_words_on_the_list(graph, admin_client_a, brand_a, monkeypatch):
    """The list shows the failure as a sentence, not the exception's text (English, technical);
    the exception itself still reaches the worker's log."""
    from engagement.services import referral_export as module

    def broken(export: ReferralExport) -> tuple[bytes, int]:
        raise KeyError("relation engagement_referral does not exist")

    monkeypatch.setattr(module, "_build", broken)
    export = referral_export_request(actor="boss", full_pi=False)
    with pytest.raises(KeyError):
        referral_export_run(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == "failed"
    listing = admin_client_a.get(EXPORTS).content.decode()
    assert "失败：生成出错，请重新生成" in listing and "does not exist" not in listing and "失败，重新生成" in listing


def test_a_build_refused_in_words_keeps_those_words(graph, brand_a, monkeypatch):
    """A refusal (AppError) carries its own sentence for people: the row keeps it as it is."""
    from crm.errors import AppError
    from engagement.services import referral_export as module

    def refused(export: ReferralExport) -> tuple[bytes, int]:
        raise AppError("export_too_large", "导出超过 100 万行，请缩小入会日期范围后重新生成。")

    monkeypatch.setattr(module, "_build", refused)
    export = referral_export_request(actor="boss", full_pi=False)
    with pytest.raises(AppError):
        referral_export_run(export_id=export.pk)
    export.refresh_from_db()
    assert (export.status, export.error) == ("failed", "导出超过 100 万行，请缩小入会日期范围后重新生成。")
