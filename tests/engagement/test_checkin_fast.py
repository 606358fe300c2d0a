"""The one-statement check-in (engagement_checkin(), migration 0010) against the ORM path it stands
in for: the same rows for the same scene, the hooks told the same, one statement for the common
case and for the repeat (pinned), and the ORM path whenever something else must be decided."""

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from crm.api.models import Partner
from crm.db.functions import sql_function_present
from crm.hooks import Hook
from crm.memos import memos_forget_all
from engagement.models import Checkin, EngagementSettings, GrowthAccount, GrowthActivityMonth, GrowthEntry
from engagement.services import checkin as checkin_service
from engagement.services.checkin import FUNCTION_NAME, checkin_perform
from engagement.services.growth import growth_audit, growth_balance
from members.hooks import LoyaltyChanged, loyalty_changed
from members.models import LoyaltyProgram, Member, PointsEntry, PointsLot, TierChange
from members.services.points import ledger_audit, points_award_bonus, points_bonus_reverse, points_spend
from tests.api.conftest import assert_problem, call, make_key
from tests.autocommit import outside_a_transaction
from tests.factories import MemberFactory, TierFactory
from tests.members.loyalty_scene import program
from webhooks.models import WebhookDelivery, WebhookSubscription

from .scene import POINTS, at, clock, ladder, rules


@pytest.fixture
def told() -> Iterator[list[LoyaltyChanged]]:
    events: list[LoyaltyChanged] = []
    loyalty_changed.connect(events.append)
    yield events
    loyalty_changed.disconnect(events.append)


def _with_debt(member: Member, debt: int) -> None:
    """A member owing `debt` points, the ledger consistent: 10 bonus, `debt` spent, bonus reversed."""
    points_award_bonus(member=member, points=10, reference="seed", reason="seed")
    points_spend(member=member, points=debt, reference="seed-spend", reason="seed")
    points_bonus_reverse(member=member, reference="seed", reason="seed", actor="test")


def _snapshot(member: Member) -> dict[str, Any]:
    """Every row a check-in writes for `member`, without ids and member ids."""
    m = Member.objects.get(pk=member.pk)
    entries = list(
        PointsEntry.objects.filter(member=member)
        .order_by("id")
        .values("kind", "points", "balance_after", "reason", "reference", "order_id", "actor", "created_at")
    )
    return {
        "member": (m.points_balance, m.points_pending, m.points_debt, m.tier_id, m.updated_at),
        "checkins": list(
            Checkin.objects.filter(member_id=member.pk)
            .order_by("biz_date")
            .values(
                "biz_date",
                "cycle_start",
                "streak",
                "made_up",
                "points",
                "growth",
                "cost_points",
                "rewards",
                "channel",
                "created_at",
            )
        ),
        "entries": entries,
        "lots": list(
            PointsLot.objects.filter(member=member)
            .order_by("id")
            .values(
                "entry__reference",
                "points",
                "remaining",
                "earned_at",
                "available_at",
                "expires_at",
                "expired",
                "pending",
            )
        ),
        "growth": list(
            GrowthEntry.objects.filter(member_id=member.pk)
            .order_by("id")
            .values(
                "kind", "value", "balance_after", "activity", "reason", "reference", "order_id", "actor", "created_at"
            )
        ),
        "account": list(GrowthAccount.objects.filter(member_id=member.pk).values("balance", "updated_at")),
        "months": list(
            GrowthActivityMonth.objects.filter(member_id=member.pk).order_by("month").values("month", "total")
        ),
        "tier_changes": list(
            TierChange.objects.filter(member=member).values("from_tier_id", "to_tier_id", "reason", "note")
        ),
    }


def _statements(captured: CaptureQueriesContext) -> list[str]:
    """The statements sent, without transaction control (a test's savepoints; BEGIN and COMMIT
    are not captured)."""
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def _daily_rewards(day: str) -> list[dict[str, Any]]:
    return [
        {"kind": "points", "amount": 5, "label": f"签到奖励（{day}）：5 积分"},
        {"kind": "growth", "amount": 1, "label": f"签到奖励（{day}）：1 成长值"},
    ]


def _changes(events: list[LoyaltyChanged]) -> list[tuple[Any, ...]]:
    return [(e.cause, c.tier_before, c.tier_after, c.points_before, c.points_after) for e in events for c in e.changes]


def _run(member: Member, days: list[str], *, fast: bool, told: list[LoyaltyChanged]) -> list[tuple[Any, ...]]:
    checkin_service.FAST_PATH = fast
    try:
        told.clear()
        for day in days:
            with clock(day):
                checkin_perform(member=Member.objects.get(pk=member.pk), channel="mini_program")
        return _changes(told)
    finally:
        checkin_service.FAST_PATH = True


SCENES = {
    "plain": ({}, {}, 0, None),
    "debt partly paid": ({}, {}, 3, None),
    "debt swallows the points": ({}, {}, 8, None),
    "growth cap cuts the grant": ({"checkin_daily_growth": 5, "growth_activity_cap_per_month": 7}, {}, 0, None),
    "growth cap reached": ({"checkin_daily_growth": 5, "growth_activity_cap_per_month": 5}, {}, 0, None),
    "growth only": ({"checkin_daily_points": 0}, {}, 0, None),
    "points only": ({"checkin_daily_growth": 0}, {}, 0, None),
    "rolling cycle": ({"checkin_cycle": EngagementSettings.CheckinCycle.ROLLING, "checkin_cycle_days": 2}, {}, 0, None),
    "expiry end of year": ({}, {"expiry": LoyaltyProgram.Expiry.END_OF_YEAR}, 0, None),
    "expiry in days": ({}, {"expiry": LoyaltyProgram.Expiry.DAYS, "expiry_days": 30}, 0, None),
    "ladder step (ORM path)": ({}, {}, 0, (2, POINTS, 20)),
}
# Across a brand month end, a brand year end (still 31 Dec in UTC at 00:30 brand time) and a gap.
DAYS = ["2027-12-30 23:59:59", "2027-12-31 23:59:30", "2028-01-01 00:30:00", "2028-01-03 08:00:00"]


@pytest.mark.parametrize("scene", list(SCENES))
def test_the_fast_path_writes_the_same_rows_as_the_orm_path(in_brand_a, told, scene):
    settings, loyalty, debt, step = SCENES[scene]
    program(**loyalty)
    rules(**settings)
    if step:
        ladder(step)
    with clock("2027-12-01 09:00:00"):
        fast, orm = MemberFactory(), MemberFactory()
        if debt:
            _with_debt(fast, debt)
            _with_debt(orm, debt)
    told_orm = _run(orm, DAYS, fast=False, told=told)
    told_fast = _run(fast, DAYS, fast=True, told=told)
    assert _snapshot(fast) == _snapshot(orm)
    assert told_fast == told_orm
    assert _snapshot(fast)["checkins"]  # the scene did check in
    assert ledger_audit() == [] and growth_audit() == []


def test_the_common_check_in_and_the_repeat_are_one_statement_each(in_brand_a):
    program()
    rules()
    ladder((7, POINTS, 20))  # a ladder the run does not reach
    member = MemberFactory()
    with clock("2027-01-31 23:59:59"):
        checkin_perform(member=MemberFactory())  # the brand's first: nothing cached matters, but warm anyway
        with CaptureQueriesContext(connection) as first:
            result = checkin_perform(member=member)
        with CaptureQueriesContext(connection) as repeat:
            again = checkin_perform(member=member)
    assert result.created and not again.created and again.checkin.pk == result.checkin.pk
    first_sql, repeat_sql = _statements(first), _statements(repeat)
    # Outside an API request the webhooks ask who listens to points changes (within a request the
    # answer is remembered: see the API test below).
    assert len(first_sql) == 2 and "engagement_checkin(" in first_sql[0] and "webhook" in first_sql[1], first_sql
    assert len(repeat_sql) == 1 and "engagement_checkin(" in repeat_sql[0], repeat_sql
    assert again.checkin.rewards == result.checkin.rewards == _daily_rewards("2027-01-31")


def test_the_api_check_in_is_one_statement_the_member_found_by_it(brand_a, client_a, redis_cache):
    with schema_context(brand_a.schema_name):
        program()
        rules()
        numbers = [MemberFactory().member_no for _ in range(2)]
    key = make_key(brand_a.schema_name)
    with clock("2027-03-08 10:03:00"):
        call(client_a, "POST", f"/api/v1/members/{numbers[0]}/checkins", key=key, body={})  # the key, remembered
        path = f"/api/v1/members/{numbers[1]}/checkins"
        with CaptureQueriesContext(connection) as first:
            response = call(client_a, "POST", path, key=key, body={})
        with CaptureQueriesContext(connection) as repeat:
            again = call(client_a, "POST", path, key=key, body={})
    assert (response.status_code, again.status_code) == (201, 200)
    # One statement finds the member by its number and checks it in (the request's own transaction
    # around it is not a statement).
    assert len(_statements(first)) == 1 and "engagement_checkin(" in _statements(first)[0], _statements(first)
    assert len(_statements(repeat)) == 1 and "engagement_checkin(" in _statements(repeat)[0], _statements(repeat)
    assert (
        json.loads(response.content)["rewards"] == json.loads(again.content)["rewards"] == _daily_rewards("2027-03-08")
    )


def test_the_api_finds_unknown_merged_and_lower_case_numbers_as_before(brand_a, client_a):
    with schema_context(brand_a.schema_name):
        program()
        rules()
        survivor, merged = MemberFactory(), MemberFactory()
        Member.objects.filter(pk=merged.pk).update(merged_into=survivor, status=Member.Status.MERGED)
    key = make_key(brand_a.schema_name)
    with clock("2027-03-08 10:03:00"):
        unknown = call(client_a, "POST", "/api/v1/members/NOSUCH1/checkins", key=key, body={})
        unknown_bad_body = call(client_a, "POST", "/api/v1/members/NOSUCH1/checkins", key=key, body={"channel": ["x"]})
        via_merged = call(client_a, "POST", f"/api/v1/members/{merged.member_no.lower()}/checkins", key=key, body={})
        again = call(client_a, "POST", f"/api/v1/members/{survivor.member_no}/checkins", key=key, body={})
    assert_problem(unknown, 404, "not_found")
    assert unknown_bad_body.status_code == 404
    assert (via_merged.status_code, again.status_code) == (201, 200)
    with schema_context(brand_a.schema_name):
        assert Checkin.objects.filter(member_id=survivor.pk).count() == 1
        assert not Checkin.objects.filter(member_id=merged.pk).exists()


def test_growth_that_lifts_the_tier_takes_the_orm_path_and_lifts_it(in_brand_a):
    program()
    rules(checkin_daily_points=0, checkin_daily_growth=10)
    low = TierFactory.create(code="g1", name="成长一", rank=1, threshold=0, basis="growth")
    high = TierFactory.create(code="g2", name="成长二", rank=2, threshold=20, basis="growth")
    member = MemberFactory(tier=low)
    sql_function_present(FUNCTION_NAME)  # the process's one catalogue read per brand, not the check-in's
    with clock("2027-03-08 10:03:00"), CaptureQueriesContext(connection) as day1:
        checkin_perform(member=member)
    assert "engagement_checkin(" in _statements(day1)[0] and len(_statements(day1)) == 1  # 10 < 20: no lift
    with clock("2027-03-09 10:03:00"), CaptureQueriesContext(connection) as day2:
        checkin_perform(member=member)
    assert len(_statements(day2)) > 1  # 20 ≥ 20: the ORM path lifts the tier
    member.refresh_from_db()
    assert member.tier_id == high.pk and growth_balance(member_id=member.pk) == 20
    assert TierChange.objects.filter(member=member, to_tier=high, note="checkin:2027-03-09").exists()
    assert growth_audit() == [] and ledger_audit() == []


@pytest.mark.parametrize("basis,has_tier", [("spend", True), ("points", True), ("spend", False)])
def test_a_member_below_a_tier_it_qualifies_for_is_lifted_as_before(in_brand_a, basis, has_tier):
    """Not the check-in's growth: a tier the member already qualifies for (threshold 0), or no tier
    at all while the brand has tiers. The ORM path lifted these members; it still does."""
    program()
    rules()
    low = TierFactory.create(code="t1", name="一", rank=1, threshold=0)
    high = TierFactory.create(code="t2", name="二", rank=2, threshold=0, basis=basis)
    member = MemberFactory(tier=low if has_tier else None)
    with clock("2027-03-08 10:03:00"):
        checkin_perform(member=member)
    member.refresh_from_db()
    assert member.tier_id == high.pk


def test_a_disabled_brand_and_an_ineligible_member_are_refused_with_nothing_written(in_brand_a):
    from crm.errors import AppError
    from engagement import error_codes

    program()
    rules(checkin_enabled=False)
    member = MemberFactory()
    with clock("2027-03-08 10:03:00"), pytest.raises(AppError) as refused:
        checkin_perform(member=member)
    assert refused.value.code == error_codes.CHECKIN_DISABLED
    rules(checkin_enabled=True)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.FROZEN)
    with clock("2027-03-08 10:03:00"), pytest.raises(AppError) as refused:
        checkin_perform(member=member)
    assert refused.value.code == error_codes.MEMBER_NOT_ELIGIBLE
    assert not Checkin.objects.filter(member_id=member.pk).exists()
    assert not PointsEntry.objects.filter(member=member).exists()


def test_the_brand_day_decides_across_midnight(in_brand_a):
    program()
    rules()
    member = MemberFactory()
    for instant in ("2027-01-31 23:59:59", "2027-02-01 00:00:00"):
        with clock(instant):
            assert checkin_perform(member=member).created
    days = list(Checkin.objects.filter(member_id=member.pk).order_by("biz_date").values_list("biz_date", "streak"))
    assert days == [(dt.date(2027, 1, 31), 1), (dt.date(2027, 2, 1), 2)]
    assert list(
        Checkin.objects.filter(member_id=member.pk).values_list("cycle_start", flat=True).order_by("biz_date")
    ) == [
        dt.date(2027, 1, 1),
        dt.date(2027, 2, 1),
    ]


def test_each_brand_checks_in_with_its_own_function_and_tables_on_one_connection(brand_a, brand_b):
    """The function is per schema and PL/pgSQL keeps plans per function: two brands in turn on the
    same connection write each to its own tables (after the plans were made for the first)."""
    members = {}
    for brand in (brand_a, brand_b, brand_a, brand_b):
        with schema_context(brand.schema_name):
            program()
            rules(checkin_daily_points=3 if brand == brand_a else 7)
            member = MemberFactory()
            with clock("2027-03-08 10:03:00"):
                assert checkin_perform(member=member).checkin.points == (3 if brand == brand_a else 7)
            members.setdefault(brand.schema_name, []).append(member.pk)
    for brand in (brand_a, brand_b):
        with schema_context(brand.schema_name):
            assert sorted(Checkin.objects.values_list("member_id", flat=True)) == sorted(members[brand.schema_name])
            assert set(PointsEntry.objects.values_list("points", flat=True)) == {3 if brand == brand_a else 7}
            assert ledger_audit() == [] and growth_audit() == []


# --- no transaction of its own when nothing would write beside the statement (session 16) ---------


def _subscribe(events: list[str]) -> None:
    WebhookSubscription.objects.create(
        partner=Partner.objects.create(name="监听方"), url="https://hooks.example/p", events=events, secret="s"
    )


def test_with_no_webhook_listening_the_statement_runs_without_begin_and_commit(in_brand_a, monkeypatch):
    program()
    rules()
    _subscribe(["member.enrolled"])  # a subscription, but not to points or tiers
    member = MemberFactory()
    with clock("2027-03-08 10:03:00"), outside_a_transaction(monkeypatch, checkin_service) as opened:
        result = checkin_perform(member=member)
    assert result.created and result.checkin.points == 5
    assert opened == []  # the one statement was its own transaction
    assert PointsEntry.objects.filter(member=member).count() == 1
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("event", ["points.changed", "member.tier_changed"])
def test_a_webhook_listening_keeps_the_statement_and_its_delivery_in_one_transaction(in_brand_a, monkeypatch, event):
    program()
    rules()
    _subscribe([event])
    member = MemberFactory()
    with clock("2027-03-08 10:03:00"), outside_a_transaction(monkeypatch, checkin_service) as opened:
        result = checkin_perform(member=member)
    assert result.created
    assert opened == [{"savepoint": False}]
    assert WebhookDelivery.objects.filter(event="points.changed").count() == (event == "points.changed")


def test_a_handler_that_does_not_say_whether_it_writes_keeps_the_transaction(in_brand_a, monkeypatch, told):
    program()
    rules()
    member = MemberFactory()
    with clock("2027-03-08 10:03:00"), outside_a_transaction(monkeypatch, checkin_service) as opened:
        checkin_perform(member=member)
    assert opened == [{"savepoint": False}]
    assert len(told) == 1


def test_the_hook_asks_each_handler_whether_it_would_write():
    hook: Hook[int, None] = Hook("test")
    writes = {"a": False, "b": False}
    hook.connect(lambda event: None, needs_transaction=lambda: writes["a"])
    hook.connect(lambda event: None, needs_transaction=lambda: writes["b"])
    assert not hook.needs_transaction()
    writes["b"] = True
    assert hook.needs_transaction()
    writes["b"] = False

    def silent(event: int) -> None:
        return None

    hook.connect(silent)  # says nothing: assumed to write
    assert hook.needs_transaction()
    hook.disconnect(silent)
    assert not hook.needs_transaction()


def test_a_brand_whose_migration_has_not_created_the_function_checks_in_by_the_orm_path(in_brand_a):
    program()
    rules()
    member = MemberFactory()
    memos_forget_all()
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("DROP FUNCTION engagement_checkin(bigint, text, date, timestamptz, date, text, text)")
    with clock("2027-03-08 10:03:00"), CaptureQueriesContext(connection) as queries:
        result = checkin_perform(member=member)
    assert result.created and result.checkin.points == 5
    assert not [q for q in queries.captured_queries if "engagement_checkin(" in q["sql"]]
    assert ledger_audit() == [] and growth_audit() == []


def test_the_callers_instant_is_the_check_ins_instant(in_brand_a):
    """A caller's `now` decides the day, every timestamp written and the growth month — not the
    clock: here the clock is already in February while the caller says 31 January."""
    program()
    rules()
    member = MemberFactory()
    said = at("2027-01-31 23:59:00")
    with clock("2027-02-01 00:10:00"):
        result = checkin_perform(member=member, now=said)
    assert result.created and result.checkin.biz_date == dt.date(2027, 1, 31)
    assert Checkin.objects.get(member_id=member.pk).created_at == said
    assert GrowthEntry.objects.get(member_id=member.pk).created_at == said
    assert list(GrowthActivityMonth.objects.filter(member_id=member.pk).values_list("month", flat=True)) == [
        dt.date(2027, 1, 1)
    ]
    assert PointsEntry.objects.get(member=member).created_at == said
