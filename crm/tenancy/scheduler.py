"""Celery beat scheduler: django-celery-beat's DatabaseScheduler, reading the public schema only.

Every beat entry of a brand carries the brand's schema in its headers (`_schema_name`), which
tenant-schemas-celery turns into the schema the task runs in. Entries of brands that are not
`ready` (still being provisioned, or disabled) are skipped instead of sent.

Cells (docs/cells.md): one beat per cell. A beat reads the schedule in the public schema of its
cell (CELERY_BEAT_CELL, default the `default` cell), where that cell's brands' entries are written,
and every message it sends carries the cell (header `_cell`), so the fixed entries' fan-outs reach
that cell's brands only.
"""

import json
import logging
from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler
from django_tenants.utils import get_public_schema_name

logger = logging.getLogger(__name__)


def entry_schema(options: dict[str, Any]) -> str:
    headers = options.get("headers") or {}
    if isinstance(headers, str):  # PeriodicTask.headers is stored as JSON text
        headers = json.loads(headers or "{}")
    return headers.get("_schema_name") or get_public_schema_name()


def brand_is_ready(schema_name: str) -> bool:
    from .models import Brand

    if schema_name == get_public_schema_name():
        return True
    return Brand.objects.filter(schema_name=schema_name, ready=True).exists()


class BrandAwareScheduler(DatabaseScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.conf import settings

        from .cells import cell_activate

        # Before the schedule is read: the scheduler's queries run in this thread, in this cell.
        cell_activate(settings.CELERY_BEAT_CELL)
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        schema_name = entry_schema(entry.options)
        if not brand_is_ready(schema_name):
            logger.warning("beat: skipping %s, brand %r is not ready", entry.name, schema_name)
            return
        super().apply_entry(entry, producer=producer)
