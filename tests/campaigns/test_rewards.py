"""A campaign's reward is given to each awarded member once per occurrence, free of points, while
stock lasts (lowest member ids first); hold-out and other brands get nothing; the preview, the
results page, the CSV export and the member page show it; a reward nobody could receive cannot
be published."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django_tenants.utils import schema_context

import members.services.rewards as rewards_service
from campaigns import services
from campaigns.models import Campaign, Occurrence, Recipient
from campaigns.selectors import campaign_preview
from campaigns.services import campaign_publish, occurrence_ensure, occurrence_run
from crm.errors import AppError
from members.models import Member, PointsEntry, Redemption, Reward
from members.services.rewards import reward_redeem
from tests.campaigns.scenes import run_now
from tests.conftest import BRAND_A, BRAND_B
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def coupon(stock: int | None = 100, **fields: object) -> Reward:
    values: dict[str, object] = {"code": "CPN20", "name": "20 元券", "points_cost": 500, "stock": stock}
    values.update(fields)
    return Reward.objects.create(**values)


def gifts(occurrence: Occurrence) -> list[Redemption]:
    return list(Redemption.objects.filter(reference=f"campaign:{occurrence.pk}").order_by("member_id"))


def small_chunks(monkeypatch, size: int = 2) -> None:
    """Member id ranges of `size` ids, so a handful of members spans several chunks."""
    real = rewards_service.member_id_ranges
    monkeypatch.setattr(rewards_service, "member_id_ranges", lambda cursor: real(cursor, chunk=size))


def test_each_member_gets_the_reward_once_free_of_points(in_brand_a, make_campaign):
    members = MemberFactory.create_batch(3, points_balance=0)
    reward = coupon(stock=10)

    occurrence = run_now(make_campaign(bonus_points=0, reward=reward))

    given = gifts(occurrence)
    assert [g.member_id for g in given] == sorted(m.pk for m in members)
    assert all(g.reward_id == reward.pk and g.points == 0 and g.entry_id is None and g.quantity == 1 for g in given)
    assert not PointsEntry.objects.filter(member__in=members).exists()  # a gift: the ledger is untouched
    reward.refresh_from_db()
    assert reward.stock == 7
    assert occurrence.steps_done == ["snapshot", "awards", "rewards", "coupons", "messages"]
    assert occurrence.summary["rewards"] | {"seconds": 0} == {
        "reward_id": reward.pk,
        "reward_name": "20 元券",
        "eligible": 3,
        "issued": 3,
        "issued_now": 3,
        "not_issued": 0,
        "unavailable": False,
        "seconds": 0,
    }


def test_stock_short_of_the_audience_goes_to_the_lowest_member_ids_and_never_below_zero(
    in_brand_a, make_campaign, monkeypatch
):
    small_chunks(monkeypatch)  # 7 members over 4 chunks: the stock runs out in the second
    members = sorted(MemberFactory.create_batch(7), key=lambda m: m.pk)
    reward = coupon(stock=3)

    occurrence = run_now(make_campaign(reward=reward))

    assert [g.member_id for g in gifts(occurrence)] == [m.pk for m in members[:3]]
    reward.refresh_from_db()
    assert reward.stock == 0
    assert occurrence.summary["rewards"]["issued"] == 3
    assert occurrence.summary["rewards"]["not_issued"] == 4
    # The next month's occurrence finds no stock: nobody gets one, it says so, stock stays 0.
    later, _ = occurrence_ensure(campaign=occurrence.campaign, slot=occurrence.slot + dt.timedelta(days=31))
    occurrence_run(occurrence_id=later.pk)
    later.refresh_from_db()
    assert gifts(later) == []
    assert later.summary["rewards"]["not_issued"] == 7 and later.status == Occurrence.Status.DONE
    reward.refresh_from_db()
    assert reward.stock == 0


def test_an_inactive_reward_at_run_time_gives_nothing_and_says_so(in_brand_a, make_campaign):
    MemberFactory.create_batch(2)
    reward = coupon(stock=5)
    campaign = make_campaign(reward=reward)
    campaign_publish(campaign_id=campaign.pk)
    Reward.objects.filter(pk=reward.pk).update(is_active=False)  # taken off the shelf after publishing

    occurrence, _ = occurrence_ensure(campaign=campaign, slot=dt.datetime(2026, 11, 8, 2, tzinfo=dt.UTC))
    occurrence_run(occurrence_id=occurrence.pk)
    occurrence.refresh_from_db()

    assert gifts(occurrence) == []
    assert occurrence.summary["rewards"]["unavailable"] is True
    assert occurrence.summary["rewards"]["not_issued"] == 2
    reward.refresh_from_db()
    assert reward.stock == 5


def test_repeating_the_step_gives_nobody_a_second_reward_and_takes_no_more_stock(
    in_brand_a, make_campaign, monkeypatch
):
    small_chunks(monkeypatch)
    MemberFactory.create_batch(5)
    reward = coupon(stock=4)
    occurrence = run_now(make_campaign(reward=reward))
    before = [(g.member_id, g.pk) for g in gifts(occurrence)]

    again = services._step_rewards(occurrence)  # a resumed run repeating the step

    assert [(g.member_id, g.pk) for g in gifts(occurrence)] == before and len(before) == 4
    assert again["issued_now"] == 0 and again["issued"] == 4 and again["not_issued"] == 1
    reward.refresh_from_db()
    assert reward.stock == 0


def test_a_crash_in_or_after_the_reward_step_resumes_to_the_same_result(in_brand_a, make_campaign, monkeypatch):
    small_chunks(monkeypatch)
    members = sorted(MemberFactory.create_batch(5), key=lambda m: m.pk)
    reward = coupon(stock=3)
    campaign = make_campaign(reward=reward)
    campaign_publish(campaign_id=campaign.pk)
    occurrence, _ = occurrence_ensure(campaign=campaign, slot=dt.datetime(2026, 11, 8, 2, tzinfo=dt.UTC))
    real_issue = rewards_service.reward_issue_bulk

    def dies_after_giving(**kwargs):
        real_issue(**kwargs)  # every chunk written...
        raise RuntimeError("worker killed")  # ...but the step's transaction never commits

    monkeypatch.setattr(rewards_service, "reward_issue_bulk", dies_after_giving)
    with pytest.raises(RuntimeError):
        occurrence_run(occurrence_id=occurrence.pk)
    assert gifts(occurrence) == []
    reward.refresh_from_db()
    assert reward.stock == 3  # rolled back with the gifts

    monkeypatch.setattr(rewards_service, "reward_issue_bulk", real_issue)
    crashing_messages = [*services.RUN_STEPS[:3], ("messages", lambda occ: 1 / 0)]
    monkeypatch.setattr(services, "RUN_STEPS", crashing_messages)
    with pytest.raises(ZeroDivisionError):
        occurrence_run(occurrence_id=occurrence.pk)  # rewards committed, then the next step dies
    monkeypatch.undo()
    small_chunks(monkeypatch)
    assert occurrence_run(occurrence_id=occurrence.pk) == "done"
    assert occurrence_run(occurrence_id=occurrence.pk) == "already_done"  # a double trigger

    occurrence.refresh_from_db()
    assert occurrence.steps_done == ["snapshot", "awards", "rewards", "coupons", "messages"]
    assert [g.member_id for g in gifts(occurrence)] == [m.pk for m in members[:3]]
    assert occurrence.summary["rewards"]["issued_now"] == 3 and occurrence.summary["rewards"]["not_issued"] == 2
    reward.refresh_from_db()
    assert reward.stock == 0


def test_hold_out_members_get_no_reward(in_brand_a, make_campaign):
    MemberFactory.create_batch(60)
    occurrence = run_now(make_campaign(bonus_points=0, reward=coupon(stock=None), holdout_pct=50))

    holdout = set(Recipient.objects.filter(occurrence=occurrence, holdout=True).values_list("member_id", flat=True))
    given = {g.member_id for g in gifts(occurrence)}
    assert holdout and given
    assert not holdout & given
    assert len(given) == 60 - len(holdout) == occurrence.summary["rewards"]["issued"]


def test_merged_and_erased_members_get_no_reward(in_brand_a, make_campaign, monkeypatch):
    keep, merged, erased = MemberFactory.create_batch(3)
    # They were in the snapshot, then merged / erased before the reward step ran.
    real_awards = services._step_awards

    def awards_then_change(occurrence, id_range=None):
        Member.objects.filter(pk=merged.pk).update(merged_into=keep, status=Member.Status.MERGED)
        Member.objects.filter(pk=erased.pk).update(status=Member.Status.ERASED)
        return real_awards(occurrence, id_range)

    monkeypatch.setattr(
        services, "RUN_STEPS", [(n, awards_then_change if n == "awards" else s) for n, s in services.RUN_STEPS]
    )
    occurrence = run_now(make_campaign(reward=coupon(stock=None)))

    assert [g.member_id for g in gifts(occurrence)] == [keep.pk]
    assert occurrence.summary["rewards"]["eligible"] == 1


def test_brand_beta_is_untouched(brand_a, brand_b, make_campaign):
    with schema_context(BRAND_B):
        beta_member = MemberFactory()
        beta_coupon = coupon(stock=10)
    with schema_context(BRAND_A):
        MemberFactory.create_batch(2)
        occurrence = run_now(make_campaign(reward=coupon(stock=10)))
        assert len(gifts(occurrence)) == 2

    with schema_context(BRAND_B):
        assert not Redemption.objects.exists()
        assert Reward.objects.get(pk=beta_coupon.pk).stock == 10
        assert not Redemption.objects.filter(member=beta_member).exists()


@pytest.mark.parametrize(("fields", "problem"), [({"is_active": False}, "已下架"), ({"stock": 0}, "库存为 0")])
def test_a_reward_nobody_can_receive_cannot_be_published(in_brand_a, make_campaign, fields, problem):
    campaign = make_campaign(reward=coupon(**fields))

    with pytest.raises(AppError) as raised:
        campaign_publish(campaign_id=campaign.pk)

    assert raised.value.code == "campaign_reward_unavailable"
    assert problem in raised.value.message and problem in raised.value.fields["reward"][0]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_preview_shows_the_reward_and_how_many_likely_get_it(in_brand_a, make_campaign):
    MemberFactory.create_batch(5)
    campaign = make_campaign(reward=coupon(stock=3))

    preview = campaign_preview(campaign)

    assert preview.reward is not None
    assert (preview.reward.name, preview.reward.wanted, preview.reward.likely, preview.reward.short) == (
        "20 元券",
        5,
        3,
        2,
    )


def test_redeeming_with_a_campaign_gifts_reference_is_refused(in_brand_a, make_campaign):
    """The gift references are reserved, before the gift (a redemption would stand in for it and
    the member would get nothing) and after it."""
    member = MemberFactory(points_balance=1000)
    reward = coupon(stock=10)
    with pytest.raises(AppError) as before:
        reward_redeem(member=member, reward=reward, reference="campaign:999999", actor="test")
    occurrence = run_now(make_campaign(bonus_points=0, reward=reward))

    with pytest.raises(AppError) as after:
        reward_redeem(member=member, reward=reward, reference=f"campaign:{occurrence.pk}", actor="test")

    assert before.value.code == after.value.code == "reward_invalid"
    assert not Redemption.objects.filter(member=member).exclude(reference=f"campaign:{occurrence.pk}").exists()


def admin_publish(client, campaign: Campaign):
    response = client.post(f"/admin/campaigns/campaign/{campaign.pk}/publish/", {}, follow=True)
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_admin_preview_results_csv_and_member_page_show_the_reward(admin_client_a):
    with schema_context(BRAND_A):
        members = sorted(MemberFactory.create_batch(3), key=lambda m: m.pk)
        sold_out = coupon(code="GONE", name="售罄券", stock=0)
        campaign = Campaign.objects.create(
            name="礼品日", frequency="monthly", day_of_month=12, bonus_points=0, reward=sold_out
        )

    texts = admin_publish(admin_client_a, campaign)
    assert any("售罄券" in t and "库存为 0" in t for t in texts), texts

    with schema_context(BRAND_A):
        Campaign.objects.filter(pk=campaign.pk).update(reward=coupon(stock=2))
    preview = admin_client_a.get(f"/admin/campaigns/campaign/{campaign.pk}/preview/").content.decode()
    assert "20 元券" in preview and '<strong id="reward-likely">2</strong>' in preview and "1 人将领不到" in preview

    with schema_context(BRAND_A):
        occurrence, _ = occurrence_ensure(campaign=campaign, slot=dt.datetime(2026, 11, 12, 2, tzinfo=dt.UTC))
        occurrence_run(occurrence_id=occurrence.pk)

    detail = admin_client_a.get(f"/admin/campaigns/occurrence/{occurrence.pk}/change/").content.decode()
    assert "赠送礼品“20 元券”：2 人，1 人因库存不足或礼品下架未获得" in detail
    export = admin_client_a.post(
        "/admin/campaigns/occurrence/", {"action": "export_results_csv", "_selected_action": [occurrence.pk]}
    )
    header, row = export.content.decode("utf-8-sig").strip().splitlines()
    columns = dict(zip(header.split(","), row.split(","), strict=True))
    assert (columns["赠送礼品"], columns["礼品发放人数"], columns["礼品未发人数"]) == ("20 元券", "2", "1")

    member_page = admin_client_a.get(f"/admin/members/member/{members[0].pk}/change/").content.decode()
    assert "20 元券" in member_page and "活动赠送" in member_page
    assert "活动赠送" not in admin_client_a.get(f"/admin/members/member/{members[2].pk}/change/").content.decode()
