"""Every campaign's django-celery-beat entry becomes a due slot, and the entry goes.

The slot is due now: the campaign's slot task (campaigns.slot_due) then runs its latest slot if it
is within the catch-up grace and has no occurrence yet (the occurrence's unique (campaign, slot)
decides, so a slot that already ran does not run again) and moves the row to the next slot. Paused
campaigns' entries (disabled) are dropped with no slot: publishing again writes one. A beat process
still holding the old entries, or a trigger message queued before this, still works: the task
campaigns.trigger_occurrence is kept and fires the slot the same exactly-once way.
"""

import json

from django.db import migrations
from django.utils import timezone

TRIGGER_TASK = "campaigns.trigger_occurrence"
SLOT_TASK = "campaigns.slot_due"


def entries_to_slots(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    DueSlot = apps.get_model("tenancy", "DueSlot")
    now = timezone.now()
    entries = list(PeriodicTask.objects.filter(task=TRIGGER_TASK))
    for entry in entries:
        if not entry.enabled:
            continue
        try:
            (campaign_id,) = json.loads(entry.args or "[]")
            schema_name = json.loads(entry.headers or "{}")["_schema_name"]
        except (ValueError, KeyError, TypeError):
            continue  # not an entry this project wrote
        DueSlot.objects.update_or_create(
            schema_name=schema_name, task=SLOT_TASK, key=int(campaign_id), defaults={"due_at": now}
        )
    if entries:
        PeriodicTask.objects.filter(pk__in=[entry.pk for entry in entries]).delete()
        # What django-celery-beat's signals do on a delete: a running beat reloads its schedule.
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": now})


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0005_due_slots_and_bulk_chunks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(entries_to_slots, migrations.RunPython.noop, elidable=True)]
