"""Due slots: every brand's scheduled work in one indexed table, claimed by one dispatcher.

One django-celery-beat entry per campaign made beat reload every row whenever any row changed, and
the rows grew with every brand. Instead a brand's service keeps one `DueSlot` row per scheduled
thing (in its database's public schema, in the service's own transaction) and beat holds a few
fixed entries, one of which (`tenancy.dispatch_due_slots`, every few seconds) runs
`slots_dispatch` for each database:

- claim: one `UPDATE … WHERE id IN (SELECT … ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED)`
  over the `due_at` index sets a lease on the due rows of every ready brand of that database, so
  two dispatchers never send the same row and the cost is the number of due rows, not of rows;
- send: `task(key, due_at)` into the row's brand (header `_schema_name`). A message that never
  arrives is sent again when the lease has passed;
- the brand's task (e.g. campaigns.slot_due) locks the row (`slot_lock`), decides what the slot
  means (the exactly-once guard is its own: a campaign occurrence's unique (campaign, slot)) and
  moves `due_at` on or deletes the row (`slot_set`), in its own transaction.

Per database on purpose: when brands live in several databases ("cells"), each database's public
schema holds the slots of its brands and the dispatcher claims in each (`slot_databases`).
"""

import dataclasses
import datetime as dt
import logging
import time

from celery import current_app
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from crm.db import connection

from .models import DueSlot

logger = logging.getLogger(__name__)

# How long a sent slot is left to its brand's task before it is sent again.
SLOT_LEASE = dt.timedelta(minutes=5)
CLAIM_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class ClaimedSlot:
    schema_name: str
    task: str
    key: int
    due_at: dt.datetime


def slot_databases() -> list[str]:
    """The database aliases whose public schema holds due slots (DUE_SLOT_DATABASES; one today)."""
    return list(getattr(settings, "DUE_SLOT_DATABASES", [DEFAULT_DB_ALIAS]))


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


def slot_send(slot: ClaimedSlot) -> bool:
    """Send the slot's task into its brand; False (logged) if the broker did not take it: the
    lease runs out and the next dispatch sends it again."""
    try:
        current_app.send_task(
            slot.task, args=[slot.key, slot.due_at.isoformat()], headers={"_schema_name": slot.schema_name}
        )
    except Exception:
        logger.exception("slot %s %s(%s) not sent; sent again after its lease", slot.schema_name, slot.task, slot.key)
        return False
    return True


def slots_dispatch(*, using: str = DEFAULT_DB_ALIAS, budget_seconds: float = 20.0) -> int:
    """Claim and send every due slot of `using` (batch after batch, within the time budget: the
    next beat tick goes on). Returns how many were sent."""
    started = time.monotonic()
    sent = 0
    while True:
        claimed = slots_claim_due(using=using, now=timezone.now())
        sent += sum(slot_send(slot) for slot in claimed)
        if len(claimed) < CLAIM_BATCH or time.monotonic() - started > budget_seconds:
            return sent
