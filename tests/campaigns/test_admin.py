"""HQ marketers build, preview, publish and read results in the brand admin (Chinese)."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from campaigns.models import Campaign, Occurrence
from campaigns.services import SLOT_TASK, occurrence_ensure, occurrence_run
from crm.db import connection
from crm.tenancy.models import DueSlot
from tests.conftest import BRAND_A
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def form_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "十二月会员日",
        "type": "member_day",
        "frequency": "monthly",
        "time_of_day": "10:00",
        "day_of_month": "8",
        "holdout_pct": "10",
        "multiplier_pct": "200",
        "bonus_points": "50",
        "message_channel": "none",
        "message_template": "",
    }
    data.update(overrides)
    return data


def test_marketer_builds_previews_and_publishes(admin_client_a):
    response = admin_client_a.post("/admin/campaigns/campaign/add/", form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    with schema_context(BRAND_A):
        campaign = Campaign.objects.get(name="十二月会员日")
        MemberFactory.create_batch(3)

    change_page = admin_client_a.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "接下来 5 次执行" in change_page and "10:00" in change_page

    preview = admin_client_a.get(f"/admin/campaigns/campaign/{campaign.pk}/preview/").content.decode()
    assert '<strong id="matching-size">3</strong>' in preview and 'id="channel-preview"' in preview
    assert "接下来 5 次执行（北京时间）" in preview and "Asia/Shanghai" not in preview  # the zone in words

    confirmation = admin_client_a.get(f"/admin/campaigns/campaign/{campaign.pk}/publish/").content.decode()
    assert '<strong id="publish-reached">' in confirmation and "赠送 50 积分" in confirmation
    assert "confirm_empty_audience" not in confirmation  # 3 members reached: nothing extra to confirm
    assert "（北京时间）首次执行" in confirmation
    response = admin_client_a.post(f"/admin/campaigns/campaign/{campaign.pk}/publish/", {}, follow=True)
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("已发布" in text for text in texts), texts
    with schema_context(BRAND_A):
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.SCHEDULED
        assert DueSlot.objects.filter(schema_name=BRAND_A, task=SLOT_TASK, key=campaign.pk).exists()


def test_publishing_an_incomplete_campaign_shows_why(admin_client_a):
    admin_client_a.post(
        "/admin/campaigns/campaign/add/", form_data(name="空活动", bonus_points="0", multiplier_pct="100")
    )
    with schema_context(BRAND_A):
        campaign = Campaign.objects.get(name="空活动")

    response = admin_client_a.post(f"/admin/campaigns/campaign/{campaign.pk}/publish/", {}, follow=True)

    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("没有任何权益或消息" in text for text in texts), texts
    with schema_context(BRAND_A):
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.DRAFT


def test_editing_a_scheduled_campaign_into_an_invalid_state_is_refused(admin_client_a):
    admin_client_a.post("/admin/campaigns/campaign/add/", form_data(name="周三会员日"))
    with schema_context(BRAND_A):
        campaign = Campaign.objects.get(name="周三会员日")
    admin_client_a.post(f"/admin/campaigns/campaign/{campaign.pk}/publish/", {"confirm_empty_audience": "on"})

    response = admin_client_a.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/", form_data(name="周三会员日", frequency="weekly")
    )

    assert response.status_code == 200
    assert "每周活动请至少选择一天" in response.content.decode()


def run_occurrences(campaign: Campaign, months: range) -> list[Occurrence]:
    slot = dt.datetime(2026, 11, 12, 10, tzinfo=dt.UTC)
    occurrences = [occurrence_ensure(campaign=campaign, slot=slot - dt.timedelta(days=30 * i))[0] for i in months]
    for occurrence in occurrences:
        occurrence_run(occurrence_id=occurrence.pk)
    return occurrences


def queries_for(client, url: str) -> int:
    # Each measured request starts from the same connection state: a request on the brand the
    # connection is already on skips its `SET search_path` (crm.tenancy.middleware).
    connection.set_schema_to_public()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_occurrence_list_has_no_n_plus_one(admin_client_a):
    with schema_context(BRAND_A):
        campaign = Campaign.objects.create(name="双十二", frequency="monthly", day_of_month=12, bonus_points=5)
        run_occurrences(campaign, range(2))
    admin_client_a.get("/admin/campaigns/occurrence/")  # warm the session and caches
    few = queries_for(admin_client_a, "/admin/campaigns/occurrence/")
    with schema_context(BRAND_A):
        run_occurrences(campaign, range(2, 8))
    many = queries_for(admin_client_a, "/admin/campaigns/occurrence/")
    assert many == few


def test_occurrence_results_page_and_csv_export(admin_client_a):
    with schema_context(BRAND_A):
        MemberFactory.create_batch(4)
        campaign = Campaign.objects.create(name="双十二", frequency="monthly", day_of_month=12, bonus_points=5)
        occurrences = run_occurrences(campaign, range(3))

    detail = admin_client_a.get(f"/admin/campaigns/occurrence/{occurrences[0].pk}/change/").content.decode()
    assert "受众" in detail and "对照组" in detail and "<svg" in detail

    export = admin_client_a.post(
        "/admin/campaigns/occurrence/",
        {"action": "export_results_csv", "_selected_action": [o.pk for o in occurrences]},
    )
    rows = export.content.decode("utf-8-sig").strip().splitlines()
    assert rows[0].startswith("活动,计划时间,受众")
    assert len(rows) == 4 and all(row.startswith("双十二") for row in rows[1:])


def test_the_results_export_says_the_messages_in_words(admin_client_a):
    from tests.campaigns.scenes import consenting_member, marketing_agreement_publish

    with schema_context(BRAND_A):
        marketing_agreement_publish()
        for _ in range(3):
            consenting_member("marketing_sms")
        campaign = Campaign.objects.create(
            name="短信会员日", frequency="monthly", day_of_month=12, message_channel="sms", message_template="您好"
        )
        (occurrence,) = run_occurrences(campaign, range(1))

    export = admin_client_a.post(
        "/admin/campaigns/occurrence/", {"action": "export_results_csv", "_selected_action": [occurrence.pk]}
    )
    row = export.content.decode("utf-8-sig").strip().splitlines()[1]
    assert row.endswith(",待发送 3"), row


def test_publishing_to_nobody_needs_the_explicit_confirmation(admin_client_a):
    admin_client_a.post("/admin/campaigns/campaign/add/", form_data(name="无人会员日"))
    with schema_context(BRAND_A):
        campaign = Campaign.objects.get(name="无人会员日")

    page = admin_client_a.get(f"/admin/campaigns/campaign/{campaign.pk}/publish/").content.decode()
    refused = admin_client_a.post(f"/admin/campaigns/campaign/{campaign.pk}/publish/", {}, follow=True)
    with schema_context(BRAND_A):
        assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT
    admin_client_a.post(f"/admin/campaigns/campaign/{campaign.pk}/publish/", {"confirm_empty_audience": "on"})

    assert 'id="empty-audience"' in page and "confirm_empty_audience" in page
    assert any("需要明确确认" in str(m) for m in get_messages(refused.wsgi_request))
    with schema_context(BRAND_A):
        assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED


def test_the_builder_offers_choices_and_explains_bad_ranges(admin_client_a):
    page = admin_client_a.get("/admin/campaigns/campaign/add/").content.decode()
    assert 'name="lifecycle_stages" value="interest"' in page and "兴趣" in page
    assert 'name="weekdays" value="3"' in page and "周三" in page

    response = admin_client_a.post(
        "/admin/campaigns/campaign/add/",
        form_data(
            lifecycle_stages=["兴趣"],
            points_min="500",
            points_max="100",
            purchased_within_days="30",
            not_purchased_within_days="60",
            frequency="weekly",
        ),
    )

    body = response.content.decode()
    assert response.status_code == 200
    for message in ("请选择列表中的生命周期阶段", "积分上限不能小于下限", "不可能同时满足", "每周活动请至少选择一天"):
        assert message in body, message
    with schema_context(BRAND_A):
        assert not Campaign.objects.exists()


def test_runs_cannot_be_deleted_and_the_campaign_links_its_results(admin_client_a):
    with schema_context(BRAND_A):
        MemberFactory.create_batch(2)
        campaign = Campaign.objects.create(name="双十二", frequency="monthly", day_of_month=12, bonus_points=5)
        (occurrence,) = run_occurrences(campaign, range(1))

    change = admin_client_a.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    runs = admin_client_a.get(f"/admin/campaigns/occurrence/?campaign__id__exact={campaign.pk}").content.decode()
    delete = admin_client_a.get(f"/admin/campaigns/occurrence/{occurrence.pk}/delete/")

    assert f"/admin/campaigns/occurrence/{occurrence.pk}/change/" in change and "查看效果" in change
    assert "2026-11-12 18:00" in runs  # 10:00 UTC is 18:00 in Shanghai, the brand's zone
    assert delete.status_code == 403
