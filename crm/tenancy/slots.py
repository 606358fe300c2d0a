"""Due slots: every brand's scheduled work in one indexed table, claimed by one dispatcher.

One django-celery-beat entry per campaign made beat reload every row whenever any row changed, and
the rows grew with every brand. Instead a brand's service keeps one `DueSlot` row per scheduled
thing (in its database's public schema, in the service's own transaction) and beat holds a few
fixed entries, one of which (`tenancy.dispatch_due_slots`, every few seconds) runs
`slots_dispatch` for each database:

- claim: one `UPDATE … WHERE id IN (SELECT … ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED)`
  over the `due_at` index sets a lease on the due rows of every ready brand of that database, so
  two dispatchers never send the same row and the cost is the number of due rows, not of rows;
- send: `task([[key, due_at], …])`, one message per brand (header `_schema_name`) and task. A
  message that never arrives is sent again when the lease has passed;
- the brand's task (e.g. campaigns.slot_due) locks the row (`slot_lock`), decides what the slot
  means (the exactly-once guard is its own: a campaign occurrence's unique (campaign, slot)) and
  moves `due_at` on or deletes the row (`slot_set`), in its own transaction.

Per cell on purpose: when brands live in several databases ("cells", cells.py), each cell's public
schema holds the slots of its brands, each cell's beat sends its own tick, and the tick claims in
the cell it runs in.
"""

import dataclasses
import datetime as dt
import logging
import time
from collections import defaultdict

from celery import current_app
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from crm.db import connection

from .models import DueSlot

logger = logging.getLogger(__name__)

# How long a sent slot is left to its brand's task before it is sent again.
SLOT_LEASE = dt.timedelta(minutes=5)
CLAIM_BATCH = 1000
MESSAGE_SLOTS = 200  # slots of one brand per message at most


@dataclasses.dataclass(frozen=True)
class ClaimedSlot:
    schema_name: str
    task: str
    key: int
    due_at: dt.datetime


def slot_set(*, task: str, key: int, due_at: dt.datetime | None) -> None:
    """In the current brand: `task(key)` is next due at `due_at` (None: not scheduled, no row).
    Call it in the transaction that changes what it schedules; it clears the lease, so a slot
    moved while its task was on the way is sent again for its new time."""
    schema_name = connection.schema_name
    if due_at is None:
        DueSlot.objects.filter(schema_name=schema_name, task=task, key=key).delete()
        return
    DueSlot.objects.update_or_create(
        schema_name=schema_name, task=task, key=key, defaults={"due_at": due_at, "leased_until": None}
    )


def slot_lock(*, task: str, key: int) -> dt.datetime | None:
    """In the current brand's transaction: lock the slot row of `task(key)`; its `due_at`, or None
    when there is none (the thing was paused, ended or rescheduled meanwhile)."""
    row = (
        DueSlot.objects.select_for_update()
        .filter(schema_name=connection.schema_name, task=task, key=key)
        .values_list("due_at", flat=True)
        .first()
    )
    return row


_CLAIM_SQL = """
UPDATE tenancy_dueslot AS slot SET leased_until = %(lease_until)s
  FROM (SELECT due.id FROM tenancy_dueslot AS due
         WHERE due.due_at <= %(now)s
           AND (due.leased_until IS NULL OR due.leased_until <= %(now)s)
           AND EXISTS (SELECT 1 FROM tenancy_brand AS brand
                        WHERE brand.schema_name = due.schema_name AND brand.ready)
         ORDER BY due.due_at
         LIMIT %(limit)s
         FOR UPDATE OF due SKIP LOCKED) AS claimed
 WHERE slot.id = claimed.id
RETURNING slot.schema_name, slot.task, slot.key, slot.due_at
"""


def slots_claim_due(*, using: str = DEFAULT_DB_ALIAS, now: dt.datetime, limit: int = CLAIM_BATCH) -> list[ClaimedSlot]:
    """Lease up to `limit` due slots of `using`'s ready brands, earliest first, and commit."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(_CLAIM_SQL, {"now": now, "lease_until": now + SLOT_LEASE, "limit": limit})
        # RETURNING keeps no order: sent earliest first.
        return sorted((ClaimedSlot(*row) for row in cursor.fetchall()), key=lambda slot: (slot.due_at, slot.key))


def slots_send(schema_name: str, task: str, claimed: list[ClaimedSlot]) -> int:
    """Send one brand's claimed slots of one task as one message, `task([[key, due_at], …])`, into
    the brand; 0 (logged) if the broker did not take it: the leases run out and a later dispatch
    sends them again."""
    try:
        current_app.send_task(
            task,
            args=[[[slot.key, slot.due_at.isoformat()] for slot in claimed]],
            headers={"_schema_name": schema_name},
        )
    except Exception:
        logger.exception("%d slots of %s %s not sent; sent again after their lease", len(claimed), schema_name, task)
        return 0
    return len(claimed)


def slots_dispatch(*, using: str = DEFAULT_DB_ALIAS, budget_seconds: float = 20.0) -> int:
    """Claim every due slot of `using` (batch after batch, within the time budget: the next beat
    tick goes on), then send them, one message per brand and task: a member day at 10:00 for ten
    thousand campaigns of a thousand brands is a thousand messages, not ten thousand. Claiming
    everything first keeps the last slot's claim from waiting for the first ones' sends. Returns
    how many slots were sent."""
    started = time.monotonic()
    claimed: list[ClaimedSlot] = []
    while True:
        batch = slots_claim_due(using=using, now=timezone.now())
        claimed.extend(batch)
        if len(batch) < CLAIM_BATCH or time.monotonic() - started > budget_seconds:
            break
    groups: dict[tuple[str, str], list[ClaimedSlot]] = defaultdict(list)
    for slot in claimed:
        groups[(slot.schema_name, slot.task)].append(slot)
    sent = 0
    for (schema_name, task), group in groups.items():
        for first in range(0, len(group), MESSAGE_SLOTS):
            sent += slots_send(schema_name, task, group[first : first + MESSAGE_SLOTS])
    return sent
