"""Formula injection through the campaign results export (issue 21): a campaign named like a
formula comes out of 导出活动效果（CSV） as inert text."""

import csv
import datetime as dt
import io

from django_tenants.utils import schema_context

from campaigns.models import Campaign
from campaigns.services import occurrence_ensure, occurrence_run
from tests.conftest import BRAND_A
from tests.factories import MemberFactory


def test_a_campaign_named_like_a_formula_is_exported_inert(admin_client_a):
    with schema_context(BRAND_A):
        MemberFactory.create_batch(3)
        campaign = Campaign.objects.create(
            name="=cmd|' /C calc'!A0", frequency="monthly", day_of_month=12, bonus_points=5
        )
        occurrence, _created = occurrence_ensure(campaign=campaign, slot=dt.datetime(2026, 11, 12, 10, tzinfo=dt.UTC))
        occurrence_run(occurrence_id=occurrence.pk)

    export = admin_client_a.post(
        "/admin/campaigns/occurrence/", {"action": "export_results_csv", "_selected_action": [occurrence.pk]}
    )

    header, row = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    cells = dict(zip(header, row, strict=True))
    assert cells["活动"] == "'=cmd|' /C calc'!A0"
    assert cells["计划时间"].startswith("2026-11-12") and cells["受众"].isdigit()
