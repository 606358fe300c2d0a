"""Due slots (crm/tenancy/slots.py): the dispatcher claims the due rows of every ready brand,
earliest first, each once per lease, and two dispatchers on two connections never claim the same
row (FOR UPDATE SKIP LOCKED). The data migration turns campaigns' beat entries into slots."""

import datetime as dt
import importlib
import json
import threading
from typing import cast

import pytest
from django.apps import apps
from django.db import connections
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_tenants.utils import schema_context

from crm.db.backend.base import DatabaseWrapper
from crm.tenancy.models import Brand, DueSlot
from crm.tenancy.slots import SLOT_LEASE, slot_lock, slot_set, slots_claim_due
from tests.conftest import BRAND_A, BRAND_B

NOW = dt.datetime(2027, 3, 8, 2, 0, tzinfo=dt.UTC)
TASK = "campaigns.slot_due"


def due(schema_name: str, key: int, minutes_ago: int) -> DueSlot:
    return DueSlot.objects.create(
        schema_name=schema_name, task=TASK, key=key, due_at=NOW - dt.timedelta(minutes=minutes_ago)
    )


@pytest.mark.django_db
def test_claims_the_due_slots_of_ready_brands_earliest_first_once_per_lease(brand_a, brand_b):
    due(BRAND_A, 1, minutes_ago=1)
    due(BRAND_B, 2, minutes_ago=5)
    due(BRAND_A, 3, minutes_ago=-1)  # due in a minute
    due(BRAND_B, 4, minutes_ago=3)
    Brand.objects.create(schema_name="gamma", name="未就绪", ready=False)
    due("gamma", 5, minutes_ago=10)

    claimed = slots_claim_due(now=NOW)

    assert [(slot.schema_name, slot.key) for slot in claimed] == [(BRAND_B, 2), (BRAND_B, 4), (BRAND_A, 1)]
    assert slots_claim_due(now=NOW) == []  # leased
    assert set(DueSlot.objects.filter(leased_until=NOW + SLOT_LEASE).values_list("key", flat=True)) == {1, 2, 4}
    # The lease passed and the brand's task never moved the row: sent again.
    assert [slot.key for slot in slots_claim_due(now=NOW + SLOT_LEASE)] == [2, 4, 1, 3]  # 3 due by then too


@pytest.mark.django_db
def test_slot_set_and_lock_act_in_the_current_brand(in_brand_a):
    slot_set(task=TASK, key=7, due_at=NOW)
    DueSlot.objects.filter(key=7).update(leased_until=NOW + SLOT_LEASE)
    assert slot_lock(task=TASK, key=7) == NOW
    with schema_context(BRAND_B):
        assert slot_lock(task=TASK, key=7) is None

    slot_set(task=TASK, key=7, due_at=NOW + dt.timedelta(days=1))  # moved: the lease goes with it
    assert DueSlot.objects.get(key=7).leased_until is None
    slot_set(task=TASK, key=7, due_at=None)
    assert not DueSlot.objects.filter(key=7).exists()


def test_two_dispatchers_on_two_connections_never_claim_the_same_slot(committed_db):
    DueSlot.objects.bulk_create(
        DueSlot(schema_name=BRAND_A, task="tests.concurrent", key=key, due_at=NOW - dt.timedelta(seconds=key))
        for key in range(1, 401)
    )
    claims: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def dispatcher(index: int) -> None:
        try:
            barrier.wait()
            while batch := slots_claim_due(now=NOW, limit=25):
                claims[index].extend(slot.key for slot in batch if slot.task == "tests.concurrent")
        finally:
            cast(DatabaseWrapper, connections["default"]).close()

    try:
        threads = [threading.Thread(target=dispatcher, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(claims[0] + claims[1]) == list(range(1, 401))
        assert not set(claims[0]) & set(claims[1])
    finally:
        DueSlot.objects.filter(task="tests.concurrent").delete()


@pytest.mark.django_db
def test_the_migration_turns_campaign_beat_entries_into_due_slots(brand_a):
    migration = importlib.import_module("crm.tenancy.migrations.0006_campaign_beat_entries_to_due_slots")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="10", day_of_month="8", timezone="Asia/Shanghai"
    )
    for name, campaign_id, schema_name, enabled in [
        ("campaign:alpha:11", 11, BRAND_A, True),
        ("campaign:beta:12", 12, BRAND_B, True),
        ("campaign:alpha:13", 13, BRAND_A, False),  # paused: no slot until published again
    ]:
        PeriodicTask.objects.create(
            name=name,
            task="campaigns.trigger_occurrence",
            crontab=crontab,
            args=json.dumps([campaign_id]),
            headers=json.dumps({"_schema_name": schema_name}),
            enabled=enabled,
        )
    PeriodicTask.objects.create(name="other", task="jobs.heartbeat", crontab=crontab)

    migration.entries_to_slots(apps, None)

    assert set(DueSlot.objects.values_list("schema_name", "task", "key")) == {
        (BRAND_A, "campaigns.slot_due", 11),
        (BRAND_B, "campaigns.slot_due", 12),
    }
    assert list(PeriodicTask.objects.filter(name__startswith="campaign:")) == []
    assert PeriodicTask.objects.filter(name="other").exists()


@pytest.mark.django_db
def test_the_dispatcher_sends_one_message_per_brand_with_its_due_slots(brand_a, brand_b, monkeypatch):
    from crm.tenancy import slots

    messages: list[tuple[str, list[object], dict[str, str]]] = []
    monkeypatch.setattr(
        slots.current_app, "send_task", lambda task, args, headers: messages.append((task, args, headers))
    )
    for key in (1, 2, 3):
        due(BRAND_A, key, minutes_ago=key)
    due(BRAND_B, 4, minutes_ago=1)
    monkeypatch.setattr(slots.timezone, "now", lambda: NOW)

    assert slots.slots_dispatch() == 4

    by_brand = {headers["_schema_name"]: (task, args) for task, args, headers in messages}
    assert len(messages) == 2
    assert by_brand[BRAND_A] == (
        TASK,
        [
            [
                [3, (NOW - dt.timedelta(minutes=3)).isoformat()],
                [2, (NOW - dt.timedelta(minutes=2)).isoformat()],
                [1, (NOW - dt.timedelta(minutes=1)).isoformat()],
            ]
        ],
    )
    assert by_brand[BRAND_B] == (TASK, [[[4, (NOW - dt.timedelta(minutes=1)).isoformat()]]])
