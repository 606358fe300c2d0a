"""Lifecycle stage (AIPL) from behaviour, per the brand's LoyaltyProgram thresholds:

- Interest: a member without a purchase in the window (joining is the interest);
- Purchase: at least one purchase in the last `purchase_window_days`;
- Loyalty:  at least `loyalty_min_purchases` purchases in the window, or the top tier.

A purchase is an order not fully refunded. Order ingest updates the stage of the buyers at once
(members.services.orders); the daily job below moves everyone else as time passes — in
particular it is what drops a member back a stage when their purchases leave the window.

The daily job (`members_lifecycle_refresh_all`, task `members.refresh_lifecycle`):

- Brand time. Beat fans the task out to every brand each hour; each brand decides by its own
  clock (crm.tenancy.zones): the brand's day D is due from settings.MEMBERS_LIFECYCLE_BRAND_HOUR
  o'clock brand time on D, and runs at the first hourly tick after that. Between midnight and that
  hour the due day is still D−1, which has normally run. Only the latest due day is run: after
  beat was down for days, one run brings every stage up to date (the stage is a state, not an
  event to replay).
- Chunked. Member id ranges of MEMBER_CHUNK ids, ascending; each chunk is its own transaction:
  lock the members whose stage changes (lock step 1, ascending id: members/services/points.py),
  one UPDATE, and the day's progress written on its JobRun — so the job never holds more than
  one chunk's member locks and order ingest for the other members goes on meanwhile.
- Resumable. A run is a JobRun whose summary carries the day, the `as_of` instant its window is
  measured from and `next_id`, the first member id not done yet, committed with each chunk. A
  run that failed or died is continued by the next attempt of the same day (the next hourly tick
  or celery's redelivery) from `next_id`, with the same `as_of`; a day that succeeded is not run
  again. A session advisory lock keeps two workers off the same brand's run.
"""

import datetime as dt
from contextlib import AbstractContextManager
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from crm.db import connection
from crm.db.arrays import pg_array
from crm.db.locks import LIFECYCLE_JOB as LIFECYCLE_JOB_LOCK
from crm.db.locks import session_advisory_lock
from crm.jobs.models import JobRun
from crm.jobs.services import job_run_record
from crm.tenancy.zones import brand_zone
from members.models import LoyaltyProgram, Member, Order, Tier

from .points import MEMBER_CHUNK, chunk_settings, loyalty_program_get

LIFECYCLE_JOB = "members.refresh_lifecycle"


def lifecycle_stage_for(*, purchases_in_window: int, is_top_tier: bool, program: LoyaltyProgram) -> str:
    if is_top_tier or purchases_in_window >= max(program.loyalty_min_purchases, 1):
        return Member.Lifecycle.LOYALTY
    if purchases_in_window > 0:
        return Member.Lifecycle.PURCHASE
    return Member.Lifecycle.INTEREST


def member_lifecycle_refresh(*, member: Member, now: dt.datetime | None = None) -> str:
    """Recompute one member's stage after an order or refund (called by order ingest inside its
    transaction, with the member already locked). Writes only when the stage changed."""
    if member.status in (Member.Status.ERASED, Member.Status.MERGED) or (
        member.lifecycle_stage == Member.Lifecycle.AWARENESS
    ):
        return member.lifecycle_stage
    program = loyalty_program_get()
    since = (now or timezone.now()) - dt.timedelta(days=program.purchase_window_days)
    purchases = Order.objects.filter(
        member_id=member.pk, paid_at__gte=since, amount_fen__gt=models.F("refunded_fen")
    ).count()
    top_tier_id = Tier.objects.order_by("-rank").values_list("pk", flat=True).first()
    stage = lifecycle_stage_for(
        purchases_in_window=purchases,
        is_top_tier=top_tier_id is not None and member.tier_id == top_tier_id,
        program=program,
    )
    if stage != member.lifecycle_stage:
        member.lifecycle_stage = stage
        member.save(update_fields=["lifecycle_stage", "updated_at"])
    return stage


# --- the daily job ------------------------------------------------------------------------------


def lifecycle_day_due(*, now: dt.datetime) -> dt.date:
    """The brand's latest day whose refresh is due at `now`: today from the configured hour
    (brand time), yesterday before it."""
    local = now.astimezone(brand_zone())
    if local.hour >= settings.MEMBERS_LIFECYCLE_BRAND_HOUR:
        return local.date()
    return local.date() - dt.timedelta(days=1)


def members_lifecycle_refresh_all(*, now: dt.datetime | None = None, chunk: int = MEMBER_CHUNK) -> dict[str, Any]:
    """The daily job (see the module docstring): run, resume or skip the brand's due day.
    Returns the run's summary, or {"day": ..., "outcome": "already_done" | "busy"} when there is
    nothing to do here (no JobRun is written then: the hourly ticks leave no trace)."""
    now = now or timezone.now()
    day = lifecycle_day_due(now=now).isoformat()
    with _brand_job_lock() as locked:
        if not locked:
            return {"day": day, "outcome": "busy"}
        attempts = JobRun.objects.filter(name=LIFECYCLE_JOB, summary__day=day)
        if attempts.filter(status=JobRun.Status.SUCCEEDED).exists():
            return {"day": day, "outcome": "already_done"}
        previous = attempts.order_by("-created_at", "-pk").first()
        # Holding the lock, a "running" attempt is one whose worker died: say so on it.
        attempts.filter(status=JobRun.Status.RUNNING).update(
            status=JobRun.Status.FAILED, finished_at=now, updated_at=now
        )
        with job_run_record(name=LIFECYCLE_JOB) as run:
            start = {"day": day, "as_of": now.isoformat(), "next_id": 0, "chunks": 0, "changed": 0}
            if previous is not None and "next_id" in previous.summary:
                carried = {key: previous.summary[key] for key in ("as_of", "next_id", "changed")}
                start = {**start, **carried, "resumed_from": previous.pk}
            JobRun.objects.filter(pk=run.pk).update(summary=start)
            run.summary = start
            _lifecycle_refresh_chunks(run=run, chunk=chunk)
    return run.summary


def _lifecycle_refresh_chunks(*, run: JobRun, chunk: int) -> None:
    """Every chunk from the run's `next_id` on, each committed with the progress it made."""
    program = loyalty_program_get()
    as_of = dt.datetime.fromisoformat(run.summary["as_of"])
    since = as_of - dt.timedelta(days=program.purchase_window_days)
    loyal = max(program.loyalty_min_purchases, 1)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {Member._meta.db_table}")  # noqa: S608
        first, last = cursor.fetchone()
    if first is None:
        return
    lo = max(first, int(run.summary["next_id"]))
    while lo <= last:
        hi = lo + chunk
        with transaction.atomic():
            changed = _lifecycle_refresh_chunk_in_transaction(since=since, as_of=as_of, loyal=loyal, lo=lo, hi=hi)
            progress = {
                **run.summary,
                "next_id": hi,
                "chunks": run.summary["chunks"] + 1,
                "changed": run.summary["changed"] + changed,
            }
            JobRun.objects.filter(pk=run.pk).update(summary=progress, updated_at=timezone.now())
        # Only once committed: job_run_record writes run.summary on failure too.
        run.summary = progress
        lo = hi


def _staged_sql(member_filter: str) -> str:
    """Each eligible member of `member_filter` with the stage their purchases since %(since)s
    support. Awareness is never assigned here: it is for prospects the brand knows of before they
    join; erased and merged members are out of all processing."""
    m, o, t = Member._meta.db_table, Order._meta.db_table, Tier._meta.db_table
    return f"""
        purchases AS (
            SELECT member_id, count(*) AS n FROM {o} o
            WHERE {member_filter.format(id="o.member_id")}
              AND o.paid_at >= %(since)s AND o.amount_fen > o.refunded_fen
            GROUP BY member_id
        ),
        top_tier AS (SELECT id FROM {t} ORDER BY rank DESC LIMIT 1),
        staged AS (
            SELECT mm.id,
                   CASE WHEN mm.tier_id IN (SELECT id FROM top_tier) OR COALESCE(p.n, 0) >= %(loyal)s
                            THEN 'loyalty'
                        WHEN COALESCE(p.n, 0) > 0 THEN 'purchase'
                        ELSE 'interest' END AS stage
            FROM {m} mm LEFT JOIN purchases p ON p.member_id = mm.id
            WHERE {member_filter.format(id="mm.id")}
              AND mm.status <> 'erased' AND mm.merged_into_id IS NULL AND mm.lifecycle_stage <> 'awareness'
        )"""  # noqa: S608 (table names come from model meta, values are parameters)


def _lifecycle_refresh_chunk_in_transaction(
    *, since: dt.datetime, as_of: dt.datetime, loyal: int, lo: int, hi: int
) -> int:
    """One chunk [lo, hi) inside the caller's transaction; returns how many members changed.

    Two statements, because of READ COMMITTED: the first locks (lock step 1, ascending id) the
    members whose stage its snapshot says changes; the second, with a snapshot taken after those
    locks, recomputes and updates only them. Order ingest locks the buyer before it writes the
    order and the stage, so a purchase committed meanwhile is seen, and one still in flight keeps
    its member out of this chunk (not locked here) rather than being overwritten with a stage
    computed without it."""
    m = Member._meta.db_table
    params: dict[str, Any] = {"since": since, "loyal": loyal, "lo": lo, "hi": hi, "as_of": as_of}
    in_range = "{id} >= %(lo)s AND {id} < %(hi)s"
    with connection.cursor() as cursor:
        chunk_settings(cursor)
        cursor.execute(
            f"""WITH {_staged_sql(in_range)}
                SELECT m.id FROM {m} m JOIN staged s ON s.id = m.id
                WHERE m.lifecycle_stage <> s.stage
                ORDER BY m.id FOR NO KEY UPDATE OF m""",  # noqa: S608
            params,
        )
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        cursor.execute(
            f"""WITH {_staged_sql("{id} = ANY(%(ids)s::bigint[])")}
                UPDATE {m} m SET lifecycle_stage = s.stage, updated_at = %(as_of)s
                FROM staged s WHERE m.id = s.id AND m.lifecycle_stage <> s.stage""",  # noqa: S608
            {**params, "ids": pg_array(ids)},
        )
        return cursor.rowcount


def _brand_job_lock() -> AbstractContextManager[bool]:
    """One worker per brand's run (PostgreSQL drops the lock if the worker dies, so a redelivered
    task can take over). Yields whether it was granted."""
    return session_advisory_lock(LIFECYCLE_JOB_LOCK)
