"""Fan-out of brand jobs. A nightly job is one beat entry in the public schema (settings
CELERY_BEAT_SCHEDULE) whose task sends the real job once per ready brand, into that brand's schema.

With several cells each cell's beat sends its own fan-out (crm/tenancy/scheduler.py), which runs in
that cell and reaches the brands the cell holds (its public schema has their rows)."""

import logging

from celery import current_app, shared_task
from django_tenants.utils import get_public_schema_name

from .cells import cell_current
from .models import Brand

logger = logging.getLogger(__name__)


@shared_task(name="tenancy.run_in_every_brand")
def run_in_every_brand(task_name: str, *args: object) -> int:
    """Send `task_name(*args)` to every ready brand; returns how many were sent."""
    schemas = list(
        Brand.objects.filter(ready=True, cell=cell_current())
        .exclude(schema_name=get_public_schema_name())
        .values_list("schema_name", flat=True)
    )
    for schema_name in schemas:
        current_app.send_task(task_name, args=args, headers={"_schema_name": schema_name})
    logger.info("sent %s to %d brands", task_name, len(schemas))
    return len(schemas)


@shared_task(name="tenancy.dispatch_due_slots")
def dispatch_due_slots() -> int:
    """Fixed beat entry (every few seconds): send every due slot of this cell (slots.py). Each
    cell's beat sends its own tick, and the tick runs in that cell (the `_cell` header,
    crm/celery.py), whose public schema holds the slots of its brands."""
    from .slots import slots_dispatch

    return slots_dispatch()


@shared_task(name="tenancy.bulk_chunk_run")
def bulk_chunk_run(chunk_id: int) -> str:
    """One chunk of a brand's bulk work, on the bulk queue (pump.py)."""
    from .pump import bulk_chunk_run as run

    return run(chunk_id)


@shared_task(name="tenancy.bulk_sweep")
def bulk_sweep() -> dict[str, int]:
    """Fixed beat entry (every minute): chunks lost on the way are queued again (pump.py)."""
    from .pump import bulk_sweep as sweep

    return sweep()
