"""Celery: the broker, delivery guarantees and the brand-aware beat (the schedule: schedule.py)."""

import os

from .environment import DATA_DIR
from .i18n import TIME_ZONE

# Without a broker server, kombu's filesystem transport keeps messages in files under .data/broker
# (development only: single machine, no priorities, polling).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or "filesystem://localhost/"
if CELERY_BROKER_URL.startswith("filesystem"):
    # The filesystem:// scheme means kombu's filesystem transport with atomic writes
    # (crm/dev_broker.py says why). Mapped by scheme, not by CELERY_BROKER_TRANSPORT, which would
    # win over any broker URL given later (a test pointing the broker elsewhere).
    import kombu.transport

    kombu.transport.TRANSPORT_ALIASES["filesystem"] = "crm.dev_broker:Transport"
    _broker_dir = DATA_DIR / "broker"
    # The transport needs its folders to exist before web, worker or beat first touch them.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (pidbox) messages; kombu's default is ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# At-least-once delivery: a task is acknowledged only after it ran, and re-queued if its worker
# dies. Tasks must therefore be idempotent (unique constraints make them so).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "crm.tenancy.scheduler:BrandAwareScheduler"
CELERY_TASK_TENANT_CACHE_SECONDS = 30
DJANGO_CELERY_BEAT_TZ_AWARE = True

# Two queues (docs/deploy.md): the default one ("celery", what every message sent before the
# split went to) for interactive work — web requests' follow-ups, webhooks, WeCom, beat's
# dispatcher and sweeps — and a bulk one, served by its own workers, for the work that runs over
# a brand's whole membership. Bulk chunks go there through the per-brand pump
# (crm/tenancy/pump.py): at most BULK_CHUNKS_IN_FLIGHT_PER_BRAND of a brand's chunks at a time.
# Campaign runs and their message sending, member/order imports, coupon pool jobs and scan-code
# imports are all chunks of the pump (docs/scale-out.md "Fair bulk work"). The other names here
# are what was queued before a job went through the pump, or a job that is not cut.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_DEFAULT_QUEUE", "celery")
CELERY_BULK_QUEUE = os.environ.get("CELERY_BULK_QUEUE", "bulk")
BULK_TASKS = (
    "tenancy.bulk_chunk_run",
    # One REPEATABLE READ snapshot by design (performance/rollups.py), so not cut in chunks nor
    # capped by the pump: a night's build is two days; only a brand's first build is long.
    "performance.rollups_refresh",
    # Queued before imports went through the pump (members.import_job_chunk): a whole job.
    "members.import_job_run",
    # Queued before these went through the pump: each now only hands its job to the pump (a short
    # task, kept here so a message from before the change is taken by the same workers).
    "campaigns.send_occurrence_messages",
    "coupons.pool_job_run",
    "scancodes.import_run",
)


def bulk_routes(queue: str) -> dict[str, dict[str, str]]:
    return {name: {"queue": queue} for name in BULK_TASKS}


CELERY_TASK_ROUTES = bulk_routes(CELERY_BULK_QUEUE)
BULK_CHUNKS_IN_FLIGHT_PER_BRAND = int(os.environ.get("BULK_CHUNKS_IN_FLIGHT_PER_BRAND", "1"))
# Member ids per pump chunk of a campaign run (campaigns/services.py RUN_CHUNK): ~1 s of set-based
# work at 50,000. Changed for the benchmark's A/B (bench/fair_bulk.py --run-chunk), not in production.
CAMPAIGN_RUN_MEMBER_CHUNK = int(os.environ.get("CAMPAIGN_RUN_MEMBER_CHUNK", "50000"))
