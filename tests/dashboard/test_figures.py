"""Every dashboard figure equals a brute-force computation in plain Python over the raw rows
(members, orders, ledger, lots, tier changes, consent history) of a generated brand."""

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from campaigns.models import Occurrence, OutboxMessage, Recipient
from consent.models import ConsentRecord, DataRequest, Purpose
from consent.selectors import consent_state_at
from dashboard import selectors
from dashboard.models import CampaignResult
from dashboard.periods import PRESETS, Period, period_from_query, preset
from dashboard.services import dashboard_refresh
from dashboard.tables import Board, Links, capture_section, members_section
from dashboard.tables import change as change_of
from members.models import Member, Order, PointsEntry, PointsLot, Staff, Tier, TierChange
from members.scoping import StoreScope
from members.services.orders import order_post, order_refund
from performance.models import Attribution
from performance.rollups import rollups_refresh, rollups_through
from tests.dashboard import scene as scene_module
from tests.members.conftest import staff_user_create
from wecom.models import CustomerTransfer

TZ = timezone.get_fixed_timezone(8 * 60)
ALL = StoreScope(all_stores=True)
CURRENT = ("active", "frozen")


def local(moment: dt.datetime) -> dt.date:
    return moment.astimezone(TZ).date()


def month(moment: dt.datetime) -> dt.date:
    return local(moment).replace(day=1)


def visible(member: Member, scope: StoreScope, staff_store: dict[int | None, int | None]) -> bool:
    """members/scoping.py's rule, restated: home store or the assigned staff's store."""
    if scope.all_stores:
        return True
    return member.home_store_id == scope.store_id or staff_store.get(member.assigned_staff_id) == scope.store_id


@pytest.fixture
def scene(in_brand_a: Any) -> scene_module.Scene:
    built = scene_module.build()
    # The store user's own Staff row exists before the refresh, as it would in a real brand.
    staff_user_create(store=built.stores[0], role="门店导购", username="dash-store")
    dashboard_refresh()
    return built


def brute(scope: StoreScope, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    staff_store: dict[int | None, int | None] = dict(Staff.objects.values_list("pk", "store_id"))
    staff_active = dict(Staff.objects.values_list("pk", "status"))
    members = [m for m in Member.objects.all() if visible(m, scope, staff_store)]
    current = [m for m in members if m.status in CURRENT]
    ids = {m.pk for m in current}
    ranks: dict[int | None, int] = {None: 0, **{t.pk: t.rank for t in Tier.objects.all()}}
    tier_moves: dict[dt.date, Counter] = defaultdict(Counter)
    member_by_id = {m.pk: m for m in members}
    for change in TierChange.objects.all():
        if change.member_id not in member_by_id or change.reason in ("enrolment", "merge"):
            continue
        before, after = ranks[change.from_tier_id], ranks[change.to_tier_id]
        if before != after:
            tier_moves[month(change.created_at)]["up" if after > before else "down"] += 1
    flows: dict[dt.date, Counter] = defaultdict(Counter)
    names = {"earn": "earned", "bonus": "earned", "redeem": "redeemed", "expire": "expired"}
    for entry in PointsEntry.objects.filter(member_id__in=member_by_id):
        if entry.kind in names:
            flows[month(entry.created_at)][names[entry.kind]] += abs(entry.points)
    expiring = sum(
        lot.remaining
        for lot in PointsLot.objects.filter(member_id__in=ids)
        if lot.remaining > 0 and lot.expires_at and now <= lot.expires_at < now + dt.timedelta(days=30)
    )
    contactable: Counter = Counter()
    stale: Counter = Counter()
    for member in current:
        states = consent_state_at(member=member)
        membership = states.get("membership")
        for purpose, state in states.items():
            if state.granted and state.needs_reconsent:
                stale[purpose] += 1
            if member.status == "active" and state.effective and membership is not None and membership.effective:
                contactable[purpose] += 1
        stale["*"] += any(s.granted and s.needs_reconsent for s in states.values())
    withdrawals: Counter = Counter()
    previous: dict[tuple[int, str], bool] = {}
    for record in ConsentRecord.objects.order_by("recorded_at", "id"):
        key = (record.member_id, record.purpose)
        recorded = member_by_id.get(record.member_id)
        if recorded is not None and recorded.status != "merged" and not record.granted and previous.get(key):
            day = local(record.recorded_at)
            withdrawals[day - dt.timedelta(days=day.weekday())] += 1
        previous[key] = record.granted
    year_ago = now - dt.timedelta(days=365)
    orders = list(Order.objects.filter(paid_at__gte=year_ago))
    per_member: dict[int, list[Order]] = defaultdict(list)
    for order in orders:
        if order.member_id:
            per_member[order.member_id].append(order)
    value: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for member in current:
        bought = per_member.get(member.pk, [])
        row = value[member.tier_id]
        row[0] += 1
        row[1] += len(bought) >= 1
        row[2] += len(bought) >= 2
        row[3] += sum(o.amount_fen - o.refunded_fen for o in bought)
    staff_rows = {}
    for staff in Staff.objects.all():
        if scope.all_stores or staff.store_id == scope.store_id:
            owned = sum(1 for m in Member.objects.filter(assigned_staff=staff) if m.status in CURRENT)
            staff_rows[staff.pk] = (owned, *brute_credited(staff, year_ago, now))
    requests = [r for r in DataRequest.objects.filter(status="pending") if r.member_id in member_by_id]
    return {
        "total": len(current),
        "new": Counter(local(m.enrolled_at) for m in current),
        "channel": Counter(m.enrolled_channel for m in current),
        "source": Counter(m.source for m in current),
        "stage": Counter(m.lifecycle_stage for m in current),
        "tier": Counter(m.tier_id for m in current),
        "tier_moves": {k: dict(v) for k, v in tier_moves.items()},
        "liability": sum(m.points_balance + m.points_pending for m in current),
        "expiring": expiring,
        "flows": {k: dict(v) for k, v in flows.items()},
        "contactable": contactable,
        "stale": stale,
        "withdrawals": withdrawals,
        "value": {k: tuple(v) for k, v in value.items()},
        "staff": staff_rows,
        "unowned": sum(
            1 for m in current if m.assigned_staff_id is None or staff_active[m.assigned_staff_id] != "active"
        ),
        "requests": (len(requests), sum(1 for r in requests if r.due_at < now)),
        "transfers": sum(
            1
            for t in CustomerTransfer.objects.all()
            if t.status in CustomerTransfer.OPEN and t.member_id in member_by_id
        ),
    }


def brute_credited(staff: Staff, since: dt.datetime, now: dt.datetime) -> tuple[int, int]:
    """导购业绩 of the staff card: the orders credited to the staff member (performance's
    attribution, whatever the serving staff) paid in [since, now], and that credit net of refunds."""
    credited = [a for a in Attribution.objects.filter(staff=staff) if since <= a.paid_at <= now]
    return len(credited), sum(a.credited_fen - a.refunded_fen for a in credited)


def brute_campaign(occurrence: Occurrence) -> dict[str, int]:
    """An occurrence's results from its raw rows: the recipients it froze, the orders they paid on
    the slot's local day, the bonus entries in the ledger, its messages."""
    members: dict[bool, set[int]] = {False: set(), True: set()}
    for recipient in Recipient.objects.filter(occurrence=occurrence):
        members[recipient.holdout].add(recipient.member_id)
    on_the_day = [o for o in Order.objects.all() if local(o.paid_at) == local(occurrence.slot)]
    bought = {group: [o for o in on_the_day if o.member_id in ids] for group, ids in members.items()}
    statuses = Counter(m.status for m in OutboxMessage.objects.filter(occurrence=occurrence))
    return {
        "audience": len(members[False]),
        "holdout": len(members[True]),
        "audience_buyers": len({o.member_id for o in bought[False]}),
        "audience_gmv_fen": sum(o.amount_fen - o.refunded_fen for o in bought[False]),
        "holdout_buyers": len({o.member_id for o in bought[True]}),
        "holdout_gmv_fen": sum(o.amount_fen - o.refunded_fen for o in bought[True]),
        "points_awarded": sum(
            e.points for e in PointsEntry.objects.filter(kind="bonus", reference=f"campaign:{occurrence.pk}")
        ),
        "messages_sent": statuses["sent"] + statuses["delivered"],
        "messages_delivered": statuses["delivered"],
    }


def assert_figures(scope: StoreScope, expected: dict[str, Any], user: Any) -> None:
    today = selectors.local_today()
    assert selectors.members_total(scope=scope) == expected["total"]
    new = selectors.members_new_per_day(scope=scope, date_from=today - dt.timedelta(days=430), date_to=today)
    assert {day: n for day, n in new.items() if n} == dict(expected["new"])
    assert dict(selectors.members_by(scope=scope, field="channel")) == dict(expected["channel"])
    assert dict(selectors.members_by(scope=scope, field="source")) == dict(expected["source"])
    funnel = selectors.aipl_funnel(scope=scope)
    assert {s.stage: s.members for s in funnel if s.members} == dict(expected["stage"])
    assert funnel[0].reached == expected["total"]
    assert funnel[1].conversion_pct == round(100 * funnel[1].reached / funnel[0].reached, 1)
    assert selectors.tier_distribution(scope=scope) == dict(expected["tier"])
    moves = {k: {d: n for d, n in v.items() if n} for k, v in selectors.tier_moves_monthly(scope=scope).items()}
    assert moves == expected["tier_moves"]
    liability = selectors.points_liability(scope=scope)
    assert (liability.points, liability.value_fen, liability.expiring_30d) == (
        expected["liability"],
        2 * expected["liability"],
        expected["expiring"],
    )
    flows = {k: {f: n for f, n in v.items() if n} for k, v in selectors.points_monthly(scope=scope).items()}
    assert {k: v for k, v in flows.items() if v} == {k: v for k, v in expected["flows"].items() if v}
    consent = selectors.consent_purposes(scope=scope)
    for purpose in [*Purpose.values, "*"]:
        got = consent.get(purpose, (0, 0))
        assert got == (expected["contactable"][purpose] if purpose != "*" else 0, expected["stale"][purpose]), purpose
    assert selectors.withdrawals_weekly(scope=scope) == dict(expected["withdrawals"])
    value = {
        r.key: (r.members, r.buyers, r.repeat_buyers, r.gmv_fen)
        for r in selectors.value_by(scope=scope, field="tier_id")
    }
    assert value == expected["value"]
    staff = {r.staff_id: (r.members, r.orders_12m, r.gmv_12m_fen) for r in selectors.staff_rows(scope=scope)}
    assert staff == expected["staff"]
    assert selectors.members_unowned(scope=scope) == expected["unowned"]
    requests = selectors.data_requests_open(user=user, now=timezone.now())
    assert (requests.open, requests.overdue) == expected["requests"]
    assert selectors.transfers_open(user=user) == expected["transfers"]


def test_every_figure_matches_brute_force_brand_wide_and_per_store(scene: scene_module.Scene) -> None:
    # One test for both scopes: building the scene through the services is the slow part.
    admin = get_user_model().objects.get(is_superuser=True)
    expected = brute(ALL)
    # The scene is varied enough that the comparisons below are not 0 == 0.
    assert expected["total"] > 100 and expected["tier_moves"] and expected["withdrawals"] and expected["expiring"]
    assert any(flows.get("redeemed") for flows in expected["flows"].values())
    assert any(flows.get("expired") for flows in expected["flows"].values())
    assert expected["stale"]["*"] and expected["contactable"]["marketing_sms"] and expected["unowned"]
    assert expected["requests"] == (4, 1) and expected["transfers"] == 2
    assert_figures(ALL, expected, admin)

    user = get_user_model().objects.get(username="dash-store")
    scope = StoreScope(all_stores=False, store_id=scene.stores[0].pk)
    expected_store = brute(scope)
    assert 0 < expected_store["total"] < expected["total"]
    assert_figures(scope, expected_store, user)


def test_capture_windows_and_campaign_results(scene: scene_module.Scene) -> None:
    today = selectors.local_today()
    windows, _ = selectors.capture_windows(scope=ALL, today=today)
    orders = list(Order.objects.all())
    for window in windows:
        inside = [o for o in orders if window.date_from <= local(o.paid_at) <= window.date_to]
        member = [o for o in inside if o.is_member_order]
        assert (window.row.orders_total, window.row.orders_member) == (len(inside), len(member))
        assert window.row.gmv_total_fen == sum(o.amount_fen - o.refunded_fen for o in inside)
        assert window.row.gmv_member_fen == sum(o.amount_fen - o.refunded_fen for o in member)
    assert windows[-1].row.orders_total > windows[1].row.orders_total > 0

    # Recipients buy on the slot's local day, from its first second to its last (one refunded in
    # part), and just after it; then the figures are refreshed.
    day = dt.datetime.combine(local(scene.occurrence.slot), dt.time(0), tzinfo=TZ)
    recipients = {r.holdout: r.member_id for r in Recipient.objects.filter(occurrence=scene.occurrence)}
    audience_member, holdout_member = (Member.objects.get(pk=recipients[holdout]) for holdout in (False, True))
    for n, (buyer, paid_at, refund) in enumerate(
        [
            (audience_member, day, 0),
            (audience_member, day + dt.timedelta(hours=23, minutes=59, seconds=59), 2_000),
            (audience_member, day + dt.timedelta(days=1), 0),
            (holdout_member, day + dt.timedelta(hours=12), 0),
        ]
    ):
        order = order_post(
            channel="store",
            order_no=f"CR-{n}",
            paid_at=paid_at,
            amount_fen=10_000 + n,
            buyer_kind="mobile",
            buyer_value=buyer.mobile,
            actor="test",
        ).order
        if refund:
            order_refund(
                channel="store",
                order_no=order.order_no,
                refund_no="R1",
                amount_fen=refund,
                refunded_at=paid_at,
                actor="test",
            )
    dashboard_refresh()

    stored = CampaignResult.objects.get(occurrence_id=scene.occurrence.pk)
    expected = brute_campaign(scene.occurrence)
    assert expected["audience"] > 0 and expected["points_awarded"] > 0
    assert expected["audience_buyers"] > 0 and expected["holdout_gmv_fen"] > 0
    assert {field: getattr(stored, field) for field in expected} == expected
    assert selectors.campaign_results(scope=StoreScope(all_stores=False, store_id=scene.stores[0].pk)) == []


def brute_range(scope: StoreScope, start: dt.date, end: dt.date) -> dict[str, int]:
    """The range figures from raw rows: current members enrolled in the range, orders placed (at
    the scope's store) in it, ledger entries, withdrawals and tier upgrades of visible members."""
    staff_store: dict[int | None, int | None] = dict(Staff.objects.values_list("pk", "store_id"))
    members = {m.pk: m for m in Member.objects.all() if visible(m, scope, staff_store)}

    def inside(moment: dt.datetime) -> bool:
        return start <= local(moment) <= end

    orders = [
        o for o in Order.objects.all() if inside(o.paid_at) and (scope.all_stores or o.store_id == scope.store_id)
    ]
    member_orders = [o for o in orders if o.is_member_order]
    entries = [e for e in PointsEntry.objects.filter(member_id__in=members) if inside(e.created_at)]
    withdrawals = 0
    previous: dict[tuple[int, str], bool] = {}
    for record in ConsentRecord.objects.order_by("recorded_at", "id"):
        key = (record.member_id, record.purpose)
        member = members.get(record.member_id)
        if member is not None and member.status != "merged" and not record.granted and previous.get(key):
            withdrawals += inside(record.recorded_at)
        previous[key] = record.granted
    ranks: dict[int | None, int] = {None: 0, **{t.pk: t.rank for t in Tier.objects.all()}}
    ups = sum(
        1
        for c in TierChange.objects.filter(member_id__in=members)
        if c.reason not in ("enrolment", "merge")
        and ranks[c.to_tier_id] > ranks[c.from_tier_id]
        and inside(c.created_at)
    )
    return {
        "new_members": sum(1 for m in members.values() if m.status in CURRENT and inside(m.enrolled_at)),
        "orders_total": len(orders),
        "orders_member": len(member_orders),
        "gmv_total_fen": sum(o.amount_fen - o.refunded_fen for o in orders),
        "gmv_member_fen": sum(o.amount_fen - o.refunded_fen for o in member_orders),
        "points_earned": sum(e.points for e in entries if e.kind in ("earn", "bonus")),
        "points_redeemed": -sum(e.points for e in entries if e.kind == "redeem"),
        "withdrawals": withdrawals,
        "tier_ups": ups,
    }


def test_range_figures_and_their_previous_period_match_brute_force(scene: scene_module.Scene) -> None:
    """Every preset and a custom range, brand-wide and for one store: the range's sums and the
    previous period's (环比) equal the raw rows, although the page reads only per-day rows."""
    today = selectors.local_today()
    periods = [preset(key, today) for key in PRESETS]
    periods.append(
        period_from_query(
            {"range": "custom", "start": f"{today - dt.timedelta(days=60)}", "end": f"{today - dt.timedelta(days=20)}"},
            today,
        )[0]
    )
    assert periods[-1].key == "custom" and periods[-1].days == 41
    store = StoreScope(all_stores=False, store_id=scene.stores[0].pk)
    seen_previous = False
    for scope in (ALL, store):
        for period in periods:
            got, got_before = selectors.range_figures(scope=scope, period=period)
            expected = brute_range(scope, period.start, period.end)
            before = brute_range(scope, period.previous.start, period.previous.end)
            assert asdict(got) == expected, (scope, period)
            assert asdict(got_before) == before, (scope, period)
            seen_previous |= before["orders_total"] > 0 and before["new_members"] > 0
    # Not 0 == 0: today has points, withdrawals and upgrades; the previous periods have orders.
    today_all = brute_range(ALL, today, today)
    assert today_all["points_earned"] and today_all["points_redeemed"] and today_all["withdrawals"]
    assert today_all["tier_ups"] and seen_previous


def test_the_members_total_and_capture_cards_compare_with_the_previous_period(scene: scene_module.Scene) -> None:
    """环比 beyond the range cards: 会员总数 compares the members there were at the range's end with
    those at the previous period's end (brute force: current members enrolled by then), the
    capture cards today with yesterday and 30 days with the 30 before — brand-wide and per store,
    every preset and a custom range that ends before today."""
    today = selectors.local_today()
    admin = get_user_model().objects.filter(is_superuser=True).first() or get_user_model().objects.create_superuser(
        "dash-admin", "dash-admin@example.com", "x"
    )
    periods = [preset(key, today) for key in PRESETS]
    periods.append(Period("custom", today - dt.timedelta(days=40), today - dt.timedelta(days=20)))
    staff_store: dict[int | None, int | None] = dict(Staff.objects.values_list("pk", "store_id"))
    checked = set()
    for scope in (ALL, StoreScope(all_stores=False, store_id=scene.stores[0].pk)):
        members = [m for m in Member.objects.all() if visible(m, scope, staff_store) and m.status in CURRENT]
        for period in periods:
            board = Board(admin, scope, today, timezone.now(), Links(admin), period)
            cards = dict(members_section(board).figures)
            at_end = sum(1 for m in members if local(m.enrolled_at) <= period.end)
            before = sum(1 for m in members if local(m.enrolled_at) <= period.previous.end)
            assert cards["会员总数"].change == change_of(at_end, before), (scope, period)
            checked.add(cards["会员总数"].change.direction)
        capture = dict(capture_section(board).figures)

        def rate(first: dt.date, last: dt.date, gmv: bool, scope: StoreScope = scope) -> float | None:
            orders = [
                o
                for o in Order.objects.all()
                if first <= local(o.paid_at) <= last and (scope.all_stores or o.store_id == scope.store_id)
            ]
            paid = [(o.amount_fen - o.refunded_fen if gmv else 1, o.is_member_order) for o in orders]
            whole = sum(v for v, _ in paid)
            return round(100 * sum(v for v, m in paid if m) / whole, 2) if whole else None

        yesterday = today - dt.timedelta(days=1)
        assert capture["今日会员订单占比%"].change == change_of(
            rate(today, today, False), rate(yesterday, yesterday, False), share=True
        )
        assert capture["近 30 天 GMV 占比%"].change == change_of(
            rate(today - dt.timedelta(days=29), today, True),
            rate(today - dt.timedelta(days=59), today - dt.timedelta(days=30), True),
            share=True,
        )
    assert checked - {"none"}, checked  # not only "—": the scene's members enrolled in these ranges


def test_staff_figures_read_from_the_performance_rollups_match_brute_force(scene: scene_module.Scene) -> None:
    """The staff card's 12-month figures are the credited orders (performance's attribution), read
    from its per-day rollup once it is built: the same as the attributions themselves after a
    refund of a rolled-up day, an order arriving months late, today's order and orders on the
    window's first, partial day — brand-wide and per store."""
    now = timezone.now()
    credited = list(Attribution.objects.filter(staff__isnull=False).select_related("order"))
    # Not the serving staff: the rule credits some orders to someone else (or to no staff at all).
    assert any(a.staff_id != a.order.staff_id for a in credited)
    assert Order.objects.filter(staff__isnull=False).exclude(attribution__staff_id=models.F("staff_id")).exists()
    rollups_refresh()
    assert rollups_through() is not None

    rolled = next(
        a
        for a in credited
        if a.refunded_fen == 0 and a.paid_at < now - dt.timedelta(days=30) and a.paid_at > now - dt.timedelta(days=300)
    )
    order_refund(
        channel=rolled.order.channel,
        order_no=rolled.order.order_no,
        refund_no="R-ROLLED",
        amount_fen=rolled.credited_fen // 2,
        refunded_at=now,
        actor="test",
    )
    buyer = scene.members[30]
    year_ago = now - dt.timedelta(days=365)
    for n, paid_at in enumerate(
        [
            now - dt.timedelta(days=60),  # a closed, rolled-up day's order arriving late
            now - dt.timedelta(minutes=5),  # today: not rolled up
            year_ago + dt.timedelta(minutes=1),  # the window's first, partial day: inside
            year_ago - dt.timedelta(minutes=1),  # just outside
        ]
    ):
        order_post(
            channel="store",
            order_no=f"ST-{n}",
            paid_at=paid_at,
            amount_fen=50_000 + n,
            store=scene.stores[0],
            buyer_kind="mobile",
            buyer_value=buyer.mobile,
            staff=scene.staff[0],
            actor="test",
        )
    dashboard_refresh(now=now)  # the window's instants are the test's, however long it took so far

    for scope in (ALL, StoreScope(all_stores=False, store_id=scene.stores[0].pk)):
        staff = {r.staff_id: (r.members, r.orders_12m, r.gmv_12m_fen) for r in selectors.staff_rows(scope=scope)}
        assert staff == brute(scope, now)["staff"], scope
    assert any(orders for _members, orders, _net in staff.values())
