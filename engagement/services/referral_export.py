"""The referral graph export for a regulator (depth, rewards, reversals), built in the background
through the project's export mechanism (crm.jobs.exports): the request queues it with the graph
page's filters, a task builds the CSV or XLSX and records its progress, the admin lists it with a
download link (engagement.admin.ReferralExportAdmin)."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.celery import send_on_commit
from crm.jobs.exports import export_build
from crm.spreadsheets.writing import csv_bytes, xlsx_bytes
from engagement.models import ReferralCampaign, ReferralExport
from engagement.selectors import referral_graph_rows, referrals_filtered
from engagement.tasks import referral_export_run_task

PROGRESS_EVERY = 1000  # rows between two progress updates


def referral_export_request(
    *,
    actor: str,
    full_pi: bool,
    file_format: str = ReferralExport.Format.XLSX,
    campaign: ReferralCampaign | None = None,
    joined_from: dt.date | None = None,
    joined_to: dt.date | None = None,
    referrer_no: str = "",
) -> ReferralExport:
    """Queue an export of the referrals the filters select; built by a task after commit."""
    with transaction.atomic():
        export = ReferralExport.objects.create(
            requested_by=actor[:150],
            file_format=file_format if file_format in ReferralExport.Format.values else ReferralExport.Format.XLSX,
            full_pi=full_pi,
            campaign=campaign,
            joined_from=joined_from,
            joined_to=joined_to,
            referrer_no=referrer_no.strip().upper()[:20],
        )
        send_on_commit(referral_export_run_task, export.pk)
    return export


def referral_export_run(*, export_id: int) -> str:
    return export_build(ReferralExport, export_id=export_id, build=_build)


def _build(export: ReferralExport) -> tuple[bytes, int]:
    referrals = referrals_filtered(
        campaign_id=export.campaign_id,
        joined_from=export.joined_from,
        joined_to=export.joined_to,
        referrer_no=export.referrer_no,
    )
    total = referrals.count()
    ReferralExport.objects.filter(pk=export.pk).update(referrals_total=total, updated_at=timezone.now())
    rows = _counted(export.pk, referral_graph_rows(referrals, full=export.full_pi))
    if export.file_format == ReferralExport.Format.CSV:
        content = csv_bytes(rows)
    else:
        content = xlsx_bytes(title="邀请关系", rows=rows)
    return content, total


def _counted(export_id: int, rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """The rows, recording on the export how many have been written every PROGRESS_EVERY rows."""
    done = -1  # the header row
    for row in rows:
        yield row
        done += 1
        if done and done % PROGRESS_EVERY == 0:
            ReferralExport.objects.filter(pk=export_id).update(referrals_done=done, updated_at=timezone.now())
    ReferralExport.objects.filter(pk=export_id).update(referrals_done=max(done, 0), updated_at=timezone.now())
