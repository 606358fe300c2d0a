"""Campaign writes: publishing and the due slot that triggers it, pausing, ending, and creating
the occurrence of a due slot exactly once; an occurrence's run, a step at a time, through the
brand's bulk pump.

The due slot (crm/tenancy/slots.py: one row per scheduled campaign, in the public schema, claimed
by beat's one dispatcher) is written on the same connection and in the same transaction as the
campaign, so the two never disagree.
"""

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.db import connection
from crm.db.locks import CAMPAIGN_OCCURRENCE, session_advisory_lock
from crm.errors import AppError
from crm.tenancy.pump import BulkChain
from crm.tenancy.slots import slot_lock, slot_set
from crm.tenancy.zones import brand_zone
from members.models import Reward
from members.services.points import MEMBER_CHUNK

from . import error_codes
from .models import Campaign, Occurrence
from .schedules import next_slots, occurrence_window, previous_slot
from .tasks import catch_up_grace

logger = logging.getLogger(__name__)

# The task the dispatcher sends when a campaign's slot is due (args: campaign id, due_at), and the
# bulk chunk that runs an occurrence's next step.
SLOT_TASK = "campaigns.slot_due"
STEP_TASK = "campaigns.occurrence_step"
# A run's chain of chunks, numbered in summary["chunks"].
RUN_CHAIN = BulkChain(STEP_TASK, Occurrence, field="summary", key="chunks")


def campaign_validate(*, campaign: Campaign) -> None:
    """What a campaign needs before it can be scheduled. Raises AppError with field errors."""
    errors: dict[str, list[str]] = {}
    frequency = campaign.frequency
    if frequency == Campaign.Frequency.MONTHLY and not campaign.day_of_month:
        errors["day_of_month"] = ["每月活动需要指定日期（1-31）。"]
    if frequency == Campaign.Frequency.WEEKLY and not campaign.weekdays:
        errors["weekdays"] = ["每周活动需要指定星期几。"]
    if frequency == Campaign.Frequency.WEEKLY and any(day not in range(1, 8) for day in campaign.weekdays):
        errors["weekdays"] = ["星期几只能是 1（周一）到 7（周日）。"]
    if frequency == Campaign.Frequency.ONCE and not campaign.run_at:
        errors["run_at"] = ["单次活动需要指定执行时间。"]
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        errors["end_date"] = ["结束日期不能早于开始日期。"]
    if campaign.message_channel != Campaign.MessageChannel.NONE and not campaign.message_template.strip():
        errors["message_template"] = ["选择了消息渠道，请填写消息内容。"]
    if (
        campaign.bonus_points == 0
        and campaign.multiplier_pct <= 100
        and campaign.reward_id is None
        and campaign.coupon_template_id is None
        and campaign.message_channel == Campaign.MessageChannel.NONE
    ):
        errors["bonus_points"] = ["活动没有任何权益或消息：请设置赠送积分、积分倍率、礼品或消息。"]
    if errors:
        raise AppError(error_codes.CAMPAIGN_INVALID_SCHEDULE, "活动设置不完整，请修改后再发布。", fields=errors)
    _reward_validate(campaign)
    if not next_slots(campaign, after=timezone.now(), tz=brand_zone(), limit=1):
        raise AppError(
            error_codes.CAMPAIGN_INVALID_SCHEDULE,
            "按当前设置，活动今后不会再执行（请检查执行时间和结束日期）。",
            fields={"end_date": ["没有未来的执行时间"]},
        )


def _reward_validate(campaign: Campaign) -> None:
    """A reward that nobody could receive makes a campaign promise nothing: refuse it at publish.
    (The run checks again under the reward's lock: stock can still run out later.) The reward is
    the brand's own: rewards live in the brand's schema, so no other brand's can be chosen."""
    if campaign.reward_id is None:
        return
    reward = Reward.objects.get(pk=campaign.reward_id)
    if not reward.is_active:
        problem = f"礼品“{reward.name}”已下架"
    elif reward.stock == 0:
        problem = f"礼品“{reward.name}”库存为 0"
    else:
        return
    raise AppError(
        error_codes.CAMPAIGN_REWARD_UNAVAILABLE,
        f"{problem}，活动无法发放：请上架或补充库存，或换一个礼品。",
        fields={"reward": [f"{problem}。"]},
    )


def campaign_due_at(campaign: Campaign, *, now: dt.datetime) -> dt.datetime | None:
    """When the campaign's slot row is next due: its latest slot, if that is within the catch-up
    grace and has no occurrence yet (a slot missed while paused, or moved to earlier today, runs
    now, as the catch-up always did), else its next slot; None when it has none."""
    zone = brand_zone()
    latest = previous_slot(campaign, at=now, tz=zone)
    if (
        latest is not None
        and now - latest <= catch_up_grace()
        and not Occurrence.objects.filter(campaign=campaign, slot=latest).exists()
    ):
        return latest
    upcoming = next_slots(campaign, after=now, tz=zone, limit=1)
    return upcoming[0] if upcoming else None


def _slot_sync(campaign: Campaign) -> None:
    """The campaign's due slot, to match its status and schedule: a scheduled campaign has one at
    its next due time; any other status has none."""
    due_at = campaign_due_at(campaign, now=timezone.now()) if campaign.status == Campaign.Status.SCHEDULED else None
    slot_set(task=SLOT_TASK, key=campaign.pk, due_at=due_at)


def _transition(*, campaign_id: int, allowed_from: set[str], to: str) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.status not in allowed_from:
        raise AppError(
            error_codes.CAMPAIGN_INVALID_STATUS,
            f"活动当前状态为“{campaign.get_status_display()}”，不能执行该操作。",
        )
    campaign.status = to
    return campaign


@transaction.atomic
def campaign_publish(*, campaign_id: int, confirm_empty_audience: bool = False) -> Campaign:
    """Draft (or paused) → scheduled, with its due slot. The preview of the next run is
    computed here, under the campaign's lock, and kept: a campaign that would reach nobody is
    refused unless the publisher said so explicitly, and the results of that run compare what
    the publisher saw with what the run reached."""
    from .selectors import campaign_preview

    campaign = _transition(
        campaign_id=campaign_id,
        allowed_from={Campaign.Status.DRAFT, Campaign.Status.PAUSED, Campaign.Status.SCHEDULED},
        to=Campaign.Status.SCHEDULED,
    )
    campaign_validate(campaign=campaign)
    preview = campaign_preview(campaign)
    if preview.reached == 0 and not confirm_empty_audience:
        raise AppError(
            error_codes.CAMPAIGN_EMPTY_AUDIENCE,
            "按当前条件，下次执行不会触达任何会员。请调整受众或渠道，或勾选“确认发布空受众活动”。",
            fields={"confirm_empty_audience": ["受众为 0 人，需要明确确认才能发布。"]},
        )
    campaign.published_at = timezone.now()
    campaign.published_preview = preview.as_record()
    campaign.save(update_fields=["status", "published_at", "published_preview", "updated_at"])
    _slot_sync(campaign)
    return campaign


@transaction.atomic
def campaign_pause(*, campaign_id: int) -> Campaign:
    campaign = _transition(campaign_id=campaign_id, allowed_from={Campaign.Status.SCHEDULED}, to=Campaign.Status.PAUSED)
    campaign.save(update_fields=["status", "updated_at"])
    _slot_sync(campaign)
    return campaign


@transaction.atomic
def campaign_end(*, campaign_id: int) -> Campaign:
    campaign = _transition(
        campaign_id=campaign_id,
        allowed_from={
            Campaign.Status.DRAFT,
            Campaign.Status.SCHEDULED,
            Campaign.Status.PAUSED,
            Campaign.Status.FINISHED,
        },
        to=Campaign.Status.ENDED,
    )
    campaign.save(update_fields=["status", "updated_at"])
    _slot_sync(campaign)
    return campaign


@transaction.atomic
def campaign_save(*, campaign: Campaign) -> Campaign:
    """Save edits (admin form). A scheduled campaign is re-validated and its due slot moved in the
    same transaction, so slot and campaign stay in step."""
    if campaign.pk is not None:
        locked = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        if locked is not None:
            # Status changes only through publish/pause/end: an edit form loaded before a
            # concurrent pause or end must not write the old status back (and revive the slot).
            campaign.status = locked.status
    if campaign.status in (Campaign.Status.SCHEDULED, Campaign.Status.PAUSED):
        campaign_validate(campaign=campaign)
    campaign.save()
    _slot_sync(campaign)
    return campaign


@transaction.atomic
def campaign_finish_if_done(*, campaign_id: int, after: dt.datetime) -> bool:
    """A scheduled campaign with no slot after its last run (a one-off, or past its end date) is
    finished: its list says so instead of "scheduled" for ever. Conditional on the status, so a
    concurrent pause or end wins."""
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id, status=Campaign.Status.SCHEDULED).first()
    if campaign is None or next_slots(campaign, after=after, tz=brand_zone(), limit=1):
        return False
    campaign.status = Campaign.Status.FINISHED
    campaign.save(update_fields=["status", "updated_at"])
    _slot_sync(campaign)
    return True


def occurrence_ensure(*, campaign: Campaign, slot: dt.datetime) -> tuple[Occurrence, bool]:
    """The occurrence of `slot`, created if this is its first trigger. Safe under concurrent
    triggers: the unique (campaign, slot) constraint decides who creates it."""
    window_start, window_end = occurrence_window(slot, brand_zone())
    with transaction.atomic():
        occurrence, created = Occurrence.objects.get_or_create(
            campaign=campaign,
            slot=slot,
            defaults={"window_start": window_start, "window_end": window_end},
        )
        Occurrence.objects.filter(pk=occurrence.pk).update(trigger_count=F("trigger_count") + 1)
    return occurrence, created


# --- running an occurrence ------------------------------------------------------------------------
# A run is a list of steps. Each goes by member id range, RUN_CHUNK ids a range, ascending: the
# snapshot over the brand's members, the steps after it (awards, rewards, coupons, messages) over
# the snapshot's recipients. A "unit" (one step over one range) commits in its own transaction
# together with the run's progress: the step's counts so far and the next range
# (`summary[step]["next_member_id"]`), or the step recorded in `steps_done` after its last range.
# Every unit is idempotent on its own (unique constraints per (occurrence, member)), so a unit
# interrupted half-way — a worker killed, a retry — simply runs again, skips what a previous
# attempt wrote and writes the rest: each reward, award and message once.
#
# Through the pump (occurrence_step), a bulk chunk runs units until it has covered RUN_CHUNK member
# ids or the run is done, then submits the next chunk in its last unit's transaction. So a
# million-member run is a chain of ~1 s chunks that takes its turn on the bulk queue with the
# other brands' chunks, and a small brand's whole run is one chunk. Each submitted chunk carries
# the run's chunk number (`summary["chunks"]`): a chunk delivered again after it already submitted
# its successor (a worker died before the pump heard it finish) finds a later number and does
# nothing, so there is only ever one chain per run.

# Member ids per range of a step, and per pump chunk: MEMBER_CHUNK, the statements' own
# size (settings CAMPAIGN_RUN_MEMBER_CHUNK: the benchmark's A/B).
RUN_CHUNK = int(getattr(settings, "CAMPAIGN_RUN_MEMBER_CHUNK", MEMBER_CHUNK))

# The steps that go by member id range, when they apply to the campaign; the others run whole. The
# snapshot's ranges cover the brand's members, the others' the snapshot's recipients.
RANGED_STEPS: dict[str, Callable[[Campaign], bool]] = {
    "snapshot": lambda campaign: True,
    "awards": lambda campaign: campaign.bonus_points > 0,
    "rewards": lambda campaign: campaign.reward_id is not None,
    "coupons": lambda campaign: campaign.coupon_template_id is not None,
    "messages": lambda campaign: campaign.message_channel != Campaign.MessageChannel.NONE,
}
IdRange = tuple[int, int]


def _step_snapshot(occurrence: Occurrence, id_range: IdRange | None = None) -> dict[str, object]:
    """Freeze the audience (of one member id range): one INSERT ... SELECT of the members passing
    every gate of the channel (the preview's selector), hold-out chosen by a stable hash of the
    slot and the member id so a re-run picks the same members and the preview of that slot showed
    exactly them. The breakdown of who was left out and why is recorded for the results (the
    ranges' counts add up to the preview's whole-audience ones)."""
    from .selectors import HOLDOUT_SQL, campaign_audience, campaign_breakdown, holdout_seed

    campaign = occurrence.campaign
    seed = holdout_seed(campaign.pk, occurrence.slot)
    # Consent as it is now (the run may be a late catch-up; what counts is permission today),
    # purchase recency relative to the slot.
    # Without the model's default ordering: sorting a million ids by enrolment date inside the
    # INSERT ... SELECT cost more than the rest of the snapshot. By member id range, RUN_CHUNK ids
    # a statement: the consent checks' hash joins read their whole tables once per range (a few
    # more seconds of CPU over a 1M run than one statement), the price of chunks of ~1 s that let
    # other brands' runs take their turn.
    audience = campaign_audience(campaign, at=occurrence.slot).order_by()
    if id_range is not None:
        audience = audience.filter(pk__gte=id_range[0], pk__lt=id_range[1])
    audience_sql, audience_params = audience.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # Those hash joins hold ~40 MB per million members; at the default 4 MB they spill to disk.
        # SET LOCAL: the step runs in its own transaction, so this ends with it.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        matching, breakdown = campaign_breakdown(
            campaign, channels=[campaign.message_channel], at=occurrence.slot, seed=seed, id_range=id_range
        )
        holdout_sql = HOLDOUT_SQL.format(id="audience.member_id")
        cursor.execute(
            f"""
            WITH added AS (
                INSERT INTO campaigns_recipient (occurrence_id, member_id, holdout, created_at)
                SELECT %s, audience.member_id, {holdout_sql}, now()
                  FROM ({audience_sql}) AS audience(member_id)
                ON CONFLICT (occurrence_id, member_id) DO NOTHING
                RETURNING 1
            )
            SELECT count(*) FROM added
            """,  # noqa: S608 - the inner query is Django's own SQL with its parameters
            [occurrence.pk, seed, campaign.holdout_pct, *audience_params],
        )
        # Counted from RETURNING: through a Citus coordinator an INSERT … SELECT reports the rows
        # it sent, conflicts included (docs/scale-out.md).
        inserted = cursor.fetchone()[0]
    counts = breakdown[campaign.message_channel]
    excluded = {reason: n for reason, n in counts.items() if reason not in {"reached", "holdout"} and n}
    return {"recipients_added": inserted, "matching": matching, "excluded": excluded}


def _benefit_members(occurrence: Occurrence, id_range: IdRange | None = None) -> tuple[str, list[object]]:
    """Who gets the benefits, as SQL for the set-based services: the snapshot minus the hold-out
    (of one member id range)."""
    sql = "SELECT member_id FROM campaigns_recipient WHERE occurrence_id = %s AND NOT holdout"
    if id_range is None:
        return sql, [occurrence.pk]
    return f"{sql} AND member_id >= %s AND member_id < %s", [occurrence.pk, *id_range]


def _step_awards(occurrence: Occurrence, id_range: IdRange | None = None) -> dict[str, int]:
    """Bonus points for every non-hold-out recipient (of the range), idempotent per (member,
    occurrence): a re-run awards nobody twice (the ledger's unique reference)."""
    from members.services.points import points_award_bonus_bulk

    campaign = occurrence.campaign
    if campaign.bonus_points <= 0:
        return {"awarded_members": 0, "points_each": 0}
    expires_at = occurrence.slot + dt.timedelta(days=campaign.bonus_expiry_days) if campaign.bonus_expiry_days else None
    awarded = points_award_bonus_bulk(
        members=_benefit_members(occurrence),
        points=campaign.bonus_points,
        reference=f"campaign:{occurrence.pk}",
        reason=f"活动赠送：{campaign.name}",
        actor=f"campaign:{campaign.pk}",
        expires_at=expires_at,
        id_range=id_range,
    )
    return {"awarded_members": awarded, "points_each": campaign.bonus_points}


def _step_rewards(occurrence: Occurrence, id_range: IdRange | None = None) -> dict[str, object]:
    """The campaign's reward as a gift to every non-hold-out recipient (of the range), once per
    (occurrence, member), while stock lasts (ascending member id, ranges in ascending order); how
    many got none is recorded."""
    from members.services.rewards import GIFT_REFERENCE_PREFIX, reward_issue_bulk

    campaign = occurrence.campaign
    if campaign.reward_id is None:
        return {}
    issue = reward_issue_bulk(
        members=_benefit_members(occurrence),
        reward_id=campaign.reward_id,
        reference=f"{GIFT_REFERENCE_PREFIX}{occurrence.pk}",
        actor=f"campaign:{campaign.pk}",
        id_range=id_range,
    )
    assert campaign.reward is not None  # reward_id is set
    return {
        "reward_id": campaign.reward_id,
        "reward_name": campaign.reward.name,
        "eligible": issue.eligible,
        "issued": issue.issued,
        "issued_now": issue.issued_now,
        "not_issued": issue.not_issued,
        "unavailable": issue.unavailable,
    }


def _step_coupons(occurrence: Occurrence, id_range: IdRange | None = None) -> dict[str, object]:
    """The campaign's coupon to every non-hold-out recipient (of the range), set-based, once per
    (occurrence, member) however often the step runs, while stock lasts (ascending member id)."""
    from coupons.models import Coupon
    from coupons.services import coupons_issue_bulk

    campaign = occurrence.campaign
    if campaign.coupon_template_id is None:
        return {}
    issue = coupons_issue_bulk(
        template_id=campaign.coupon_template_id,
        members=_benefit_members(occurrence, id_range),
        source=Coupon.Source.CAMPAIGN,
        source_key=f"campaign:{campaign.pk}:{occurrence.pk}",
        actor=f"campaign:{campaign.pk}",
    )
    return {
        "coupon_template_id": campaign.coupon_template_id,
        "eligible": issue.eligible,
        "issued_now": issue.issued_now,
        "already": issue.already,
        "over_limit": issue.over_limit,
        "out_of_stock": issue.out_of_stock,
    }


def _step_messages(occurrence: Occurrence, id_range: IdRange | None = None) -> dict[str, int]:
    """Queue the messages (set-based; of the range) and, the whole step in one go, submit their
    sending to the pump with this step's commit (by ranges: with the last range's, _messages_send)."""
    from .messaging import outbox_write

    outcome = outbox_write(occurrence=occurrence, id_range=id_range)
    if id_range is None:
        _messages_send(occurrence)
    return outcome


def _messages_send(occurrence: Occurrence) -> None:
    """The sending, through the brand's pump, submitted with the step's last transaction."""
    from .messaging import outbox_send_start

    if occurrence.campaign.message_channel != Campaign.MessageChannel.NONE:
        outbox_send_start(occurrence=occurrence)


# Rewards after the points and before the messages: the message may tell the member about both.
RUN_STEPS: list[tuple[str, Callable[..., Mapping[str, object]]]] = [
    ("snapshot", _step_snapshot),
    ("awards", _step_awards),
    ("rewards", _step_rewards),
    ("coupons", _step_coupons),
    ("messages", _step_messages),
]
# What a ranged step does once its last range is in (in that range's transaction).
STEP_FINISHED: dict[str, Callable[[Occurrence], None]] = {"messages": _messages_send}


def occurrence_run(*, occurrence_id: int) -> str:
    """Run (or resume) an occurrence, every step in this call. Returns "done", "already_done" or
    "busy" (another worker holds it). A session advisory lock keeps two workers off the same
    occurrence; PostgreSQL releases it if the worker dies, so a redelivered task can take over."""
    with session_advisory_lock(CAMPAIGN_OCCURRENCE, occurrence_id) as locked:
        if not locked:
            return "busy"
        return _occurrence_run_locked(occurrence_id)


def occurrence_start(*, occurrence: Occurrence) -> None:
    """Run the occurrence through the brand's bulk pump, RUN_CHUNK member ids per chunk
    (occurrence_step), from the caller's transaction: the chunk is recorded with whatever the
    caller commits."""
    _chunk_submit(occurrence.pk)


def _chunk_submit(occurrence_id: int) -> None:
    """Submit the run's next chunk, numbered, in the current transaction (the occurrence row
    locked while its chunk number moves on)."""
    RUN_CHAIN.submit_next(Occurrence(pk=occurrence_id))


def occurrence_step(*, occurrence_id: int, chunk: int | None = None) -> str:
    """One bulk chunk of a run: the occurrence's next units up to RUN_CHUNK member ids, then the
    next chunk is submitted in the last unit's own transaction (so a crash between units loses
    nothing) and joins the bulk queue behind the other brands' chunks. `chunk`: the number it was
    submitted with (None: a chunk from before chunks were numbered). "continued", "done",
    "already_done", "stale" (a later chunk was submitted already) or "busy"."""
    with session_advisory_lock(CAMPAIGN_OCCURRENCE, occurrence_id) as locked:
        if not locked:
            return "busy"
        return _occurrence_run_locked(occurrence_id, one_chunk=True, chunk=chunk)


def _recipient_id_bounds(occurrence_id: int) -> tuple[int, int] | None:
    """The lowest and highest member id of the snapshot (fixed once the snapshot is recorded)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(member_id), max(member_id) FROM campaigns_recipient WHERE occurrence_id = %s",
            [occurrence_id],
        )
        lo, hi = cursor.fetchone()
    return None if lo is None else (lo, hi)


def _member_id_bounds() -> tuple[int, int] | None:
    """The brand's lowest and highest member id now (a member enrolled during the snapshot falls
    in a range still to come, or in none: the snapshot is of the members at its time)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM members_member")
        lo, hi = cursor.fetchone()
    return None if lo is None else (lo, hi)


def _next_unit(
    occurrence: Occurrence,
) -> tuple[str, Callable[..., Mapping[str, object]], IdRange | None, int, bool] | None:
    """The run's next unit: (step, its function, member id range or None for the whole step,
    member ids it covers, whether it ends the step); None when every step is done."""
    pending = [(name, step) for name, step in RUN_STEPS if name not in occurrence.steps_done]
    if not pending:
        return None
    name, step = pending[0]
    applies = RANGED_STEPS.get(name)
    if applies is None or not applies(occurrence.campaign):
        return name, step, None, 0, True
    bounds = _member_id_bounds() if name == "snapshot" else _recipient_id_bounds(occurrence.pk)
    if bounds is None:  # no members, or nobody in the snapshot: the whole step, nothing to do
        return name, step, None, 0, True
    lo = int(occurrence.summary.get(name, {}).get("next_member_id", bounds[0]))
    hi = min(lo + RUN_CHUNK, bounds[1] + 1)
    return name, step, (lo, hi), hi - lo, hi > bounds[1]


# Outcome keys that name what a step gives rather than count it: the same in every range.
OUTCOME_NAMES = frozenset({"points_each", "reward_id", "reward_name", "coupon_template_id"})


def _merge(counts: Mapping[str, object], more: Mapping[str, object]) -> dict[str, object]:
    """A step's outcome so far plus one range's: counts add up (also by reason), flags or, names
    stay."""
    merged = dict(counts)
    for key, value in more.items():
        before = merged.get(key)
        if key in OUTCOME_NAMES or before is None:
            merged[key] = value
        elif isinstance(value, Mapping) and isinstance(before, Mapping):
            merged[key] = _merge(before, value)
        elif isinstance(value, bool) and isinstance(before, bool):
            merged[key] = before or value
        elif isinstance(value, int | float) and isinstance(before, int | float):
            merged[key] = round(before + value, 2) if isinstance(value, float) else before + value
        else:
            merged[key] = value
    return merged


def _occurrence_run_locked(occurrence_id: int, *, one_chunk: bool = False, chunk: int | None = None) -> str:
    try:
        occurrence = Occurrence.objects.select_related("campaign").get(pk=occurrence_id)
        if occurrence.status == Occurrence.Status.DONE:
            return "already_done"
        if RUN_CHAIN.stale(occurrence, chunk):
            return "stale"
        if occurrence.started_at is None:
            occurrence.started_at = timezone.now()
        occurrence.status = Occurrence.Status.RUNNING
        occurrence.save(update_fields=["status", "started_at", "updated_at"])
        covered = 0
        while (unit := _next_unit(occurrence)) is not None:
            name, step, id_range, width, ends_step = unit
            started = time.monotonic()
            with transaction.atomic():
                done_so_far = occurrence.summary.get(name, {}) if id_range is not None else {}
                outcome = step(occurrence) if id_range is None else step(occurrence, id_range)
                outcome = _merge(done_so_far, {**outcome, "seconds": round(time.monotonic() - started, 2)})
                outcome.pop("next_member_id", None)
                if ends_step:
                    occurrence.steps_done = [*occurrence.steps_done, name]
                    if id_range is not None and name in STEP_FINISHED:
                        STEP_FINISHED[name](occurrence)
                else:
                    assert id_range is not None
                    outcome["next_member_id"] = id_range[1]
                occurrence.summary = {**occurrence.summary, name: outcome}
                covered += width
                more = not ends_step or len(occurrence.steps_done) < len(RUN_STEPS)
                hand_on = one_chunk and more and covered >= RUN_CHUNK
                occurrence.save(update_fields=["steps_done", "summary", "updated_at"])
                if hand_on:
                    RUN_CHAIN.submit_next(occurrence, after=chunk)
            logger.info("occurrence %s step %s %s: %s", occurrence_id, name, id_range or "", outcome)
            if hand_on:
                return "continued"
        occurrence.status = Occurrence.Status.DONE
        occurrence.finished_at = timezone.now()
        occurrence.save(update_fields=["status", "finished_at", "updated_at"])
        campaign_finish_if_done(campaign_id=occurrence.campaign_id, after=occurrence.slot)
        return "done"
    except Exception as exc:
        Occurrence.objects.filter(pk=occurrence_id).update(status=Occurrence.Status.FAILED, error=str(exc)[:2000])
        raise


def occurrence_for_trigger(*, campaign_id: int, now: dt.datetime, grace: dt.timedelta) -> Occurrence | None:
    """The occurrence a trigger at `now` is for: the campaign's latest slot at or before now, if
    the campaign is scheduled and the slot is no older than `grace` (the dispatcher sends a little
    after the slot; a dispatcher that was down, much later)."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SCHEDULED).first()
    if campaign is None:
        return None
    slot = previous_slot(campaign, at=now, tz=brand_zone())
    if slot is None or now - slot > grace:
        return None
    occurrence, _ = occurrence_ensure(campaign=campaign, slot=slot)
    return occurrence


@transaction.atomic
def campaign_slot_fire(
    *, campaign_id: int, due_at: dt.datetime | None, now: dt.datetime, grace: dt.timedelta
) -> Occurrence | None:
    """The campaign's due slot was claimed (`due_at`: the time the dispatcher saw; None from a
    trigger sent before due slots existed). In one transaction, under the campaign's lock then its
    slot row's: the occurrence of the latest slot within `grace` is ensured (unique per slot:
    exactly once however often this runs) and started through the pump if it is new, and the slot
    row moves to the next slot after now (or goes, with the schedule). A message that no longer
    matches the row (the campaign was paused, ended or rescheduled after it was sent) changes
    nothing: the row's own time is claimed when it comes. Returns the occurrence started, if any."""
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    current = slot_lock(task=SLOT_TASK, key=campaign_id)
    if due_at is not None and current != due_at:
        logger.info("campaign %s: slot message for %s is stale (row: %s)", campaign_id, due_at, current)
        return None
    if campaign is None or campaign.status != Campaign.Status.SCHEDULED:
        slot_set(task=SLOT_TASK, key=campaign_id, due_at=None)
        return None
    zone = brand_zone()
    slot = previous_slot(campaign, at=now, tz=zone)
    started = None
    if slot is not None and now - slot <= grace:
        occurrence, created = occurrence_ensure(campaign=campaign, slot=slot)
        if created:
            occurrence_start(occurrence=occurrence)
            started = occurrence
    elif current is not None:
        logger.warning("campaign %s: slot %s missed beyond the grace period, not run", campaign_id, current)
    upcoming = next_slots(campaign, after=now, tz=zone, limit=1)
    slot_set(task=SLOT_TASK, key=campaign_id, due_at=upcoming[0] if upcoming else None)
    if not upcoming and started is None:
        campaign_finish_if_done(campaign_id=campaign_id, after=now)
    return started


def occurrences_resume(*, now: dt.datetime, grace: dt.timedelta) -> int:
    """Start again, through the pump, the occurrences of the last `grace` that failed or never
    got going (pending with no chunk waiting): the catch-up sweep. Returns how many."""
    waiting = RUN_CHAIN.waiting()
    candidates = Occurrence.objects.filter(
        status__in=[Occurrence.Status.PENDING, Occurrence.Status.FAILED],
        slot__gte=now - grace,
        campaign__status=Campaign.Status.SCHEDULED,
    ).values_list("pk", flat=True)
    started = 0
    for occurrence_id in candidates:
        if occurrence_id in waiting:
            continue
        _chunk_submit(occurrence_id)
        started += 1
    return started
