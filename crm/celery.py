"""The celery app. Built on tenant-schemas-celery: every message carries the schema of the brand
that sent it (header `_schema_name`) and the worker switches to that schema before the task runs.

Cells (crm/tenancy/cells.py, docs/cells.md): every message also carries the cell it was sent from
(header `_cell`). Before a task runs, the worker points its connection at the brand's cell — read
from the control database's map, remembered CELERY_TASK_TENANT_CACHE_SECONDS, so a message queued
before its brand moved runs in the brand's new cell — or, for a task of no brand (a cell's fan-out),
at the cell its header names. A brand being moved is read-only: its tasks wait (retried every
CELL_MOVE_RETRY_SECONDS) instead of writing to the schema being copied.
"""

import logging
import os
import reprlib
import time
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError
from tenant_schemas_celery import app as tenant_celery
from tenant_schemas_celery.app import CeleryApp
from tenant_schemas_celery.task import TenantTask

from crm.db import connection
from crm.memos import process_memo

# A worker or beat started without DJANGO_SETTINGS_MODULE runs production's settings (DEBUG off,
# no default key); dev.py and the tests name theirs.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.prod")

logger = logging.getLogger(__name__)

CELL_MOVE_RETRY_SECONDS = 60
# (monotonic expiry, cell, read-only) per brand schema, read from the control database.
_brand_cells: dict[str, tuple[float, str, bool]] = process_memo("brand cells for tasks")


class CellTask(TenantTask):
    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_brand_read_only", False):
            # The brand is being moved between cells (move_brand): run once it is back. Enough
            # retries for a move of hours; the task's own retry count is not spent on errors.
            raise self.retry(countdown=CELL_MOVE_RETRY_SECONDS, max_retries=(self.request.retries or 0) + 1000)
        return super().__call__(*args, **kwargs)


class CellCeleryApp(CeleryApp):
    task_cls = "crm.celery:CellTask"

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        from crm.tenancy.cells import cell_current

        headers = dict(options.get("headers") or {})
        headers.setdefault("_cell", cell_current())
        options["headers"] = headers
        return super().send_task(name, args=args, kwargs=kwargs, **options)


def _task_cell(task: Any) -> tuple[str, bool]:
    """The cell a task runs in, and whether its brand is read-only (being moved)."""
    from django.conf import settings
    from django_tenants.utils import get_public_schema_name

    from crm.tenancy.cells import HOME_CELL, brand_place

    schema = tenant_celery.get_schema_name_from_task(task, {}) or get_public_schema_name()
    headers = task.request.headers or {}
    header_cell = headers.get("_cell") or task.request.get("_cell") or HOME_CELL
    if schema == get_public_schema_name():
        return header_cell, False
    remembered = _brand_cells.get(schema)
    if remembered is None or remembered[0] <= time.monotonic():
        place = brand_place(schema)
        if place is None:  # no such brand: tenant-schemas-celery says so in the header's cell
            return header_cell, False
        remembered = (time.monotonic() + settings.CELERY_TASK_TENANT_CACHE_SECONDS, place.cell, place.read_only)
        _brand_cells[schema] = remembered
    return remembered[1], remembered[2]


def task_cell_enter(sender: Any = None, task: Any = None, **kwargs: Any) -> None:
    from crm.tenancy.cells import cell_activate, cell_current

    cell, read_only = _task_cell(task)
    task._cell_before = cell_current()
    task._brand_read_only = read_only
    cell_activate(cell)
    tenant_celery.switch_schema(task, kwargs)


def task_cell_leave(sender: Any = None, task: Any = None, **kwargs: Any) -> None:
    from crm.tenancy.cells import cell_activate

    tenant_celery.restore_schema(task, **kwargs)
    cell_activate(getattr(task, "_cell_before", "default"))


# tenant-schemas-celery's own receivers switch the schema of whatever connection is current; ours
# first point the connection at the task's cell, then call theirs.
task_prerun.disconnect(dispatch_uid="tenant_schemas_switch_schema")
task_postrun.disconnect(dispatch_uid="tenant_schemas_restore_schema")
task_prerun.connect(task_cell_enter, dispatch_uid="crm_task_cell_enter", weak=False)
task_postrun.connect(task_cell_leave, dispatch_uid="crm_task_cell_leave", weak=False)

app = CellCeleryApp("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def send_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueue `task(*args, **kwargs)` once the current transaction commits, in the current brand.

    Use this instead of `task.delay_on_commit`: the schema header is stamped when the message is
    *sent*, and by the time the commit hook runs the connection may have left the brand's schema
    (for example a `schema_context` that exited before the outer transaction committed), so the
    task would run in the public schema. Here the schema is captured now, explicitly.
    """
    schema_name = connection.schema_name

    def send() -> None:
        _send_after_commit(task, args, kwargs, schema_name)

    transaction.on_commit(send)


# What recovers a task sent with send_on_commit whose message never reached the broker:
#   api.webhook_deliver, api.webhook_dispatch — the delivery rows are committed as pending;
#     api.webhook_sweep_all_brands (every 10 min) sends again those pending past
#     WEBHOOK_STALLED_AFTER (webhooks/services.py).
#   wecom.transfers_send — the transfers are committed as pending and never sent;
#     wecom-transfers-poll (every 15 min) sends those (wecom/transfers.py transfers_poll).
#   wecom.prospects_link_member — wecom-prospects-link (hourly) links every prospect whose
#     unionid belongs to a member (wecom/assignment.py prospects_link_pending).
#   members.import_job_run — the import job stays waiting; its result page offers 继续导入 once
#     it has made no progress for 5 minutes (members/admin/import_jobs.py).
#   Bulk chunks (crm/tenancy/pump.py: campaign runs and sending, imports, coupon pool jobs) are
#     not sent with send_on_commit: the chunk is a row written in the caller's transaction, and
#     the pump's sweep (every minute) sends what is queued or was sent longer than the lease ago.
#   campaigns.send_occurrence_messages — campaigns-send-lost-messages (every 10 min) sends the
#     occurrences whose queued messages no send ever claimed and no send chunk waits for
#     (campaigns/messaging.py).
# Nothing recovers these yet; the log line below is the record to act on:
#   wecom.callback_event_process — the event stays pending; WeCom's re-delivery finds it stored
#     and does not queue it again, and the admin's retry takes failed events only;
#   wecom.member_tags_mark — the tagging is not mirrored in WeCom until the member is tagged again;
BROKER_DOWN_SKIP_SECONDS = 5.0
_broker_down_until = 0.0


def _send_after_commit(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any], schema_name: str) -> None:
    """Send, in an on-commit hook. The write is committed: a broker that cannot take the message
    must not turn it into an error answer (the client would retry a write that succeeded, and
    the hooks after this one would not run). The failure is logged with the task and its brand,
    and left to the sweeps above.

    After a failed send, this process skips the broker for BROKER_DOWN_SKIP_SECONDS: celery
    retries each publish (about 0.6 s against a refused port, several times
    broker_connection_timeout against one that does not answer), and a batch of 500 orders sends
    one message per webhook delivery, so the request would take minutes."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        logger.error(
            "task %s not queued for brand %s (args %s): the broker failed less than %ss ago; left to the sweeps",
            task.name,
            schema_name,
            reprlib.repr(args),
            BROKER_DOWN_SKIP_SECONDS,
        )
        return
    try:
        task.apply_async(args=args, kwargs=kwargs, headers={"_schema_name": schema_name})
    except Exception as exc:
        if not _broker_error(exc):
            raise
        _broker_down_until = time.monotonic() + BROKER_DOWN_SKIP_SECONDS
        logger.error(
            "task %s not queued for brand %s (args %s): %s: %s; left to the sweeps",
            task.name,
            schema_name,
            reprlib.repr(args),
            type(exc).__name__,
            exc,
        )


def _broker_error(exc: Exception) -> bool:
    """`exc` says the broker could not take a message: celery re-raises a publish that failed
    after its retries as kombu's OperationalError; a transport's own connection and channel
    errors (redis, sockets, the filesystem transport's files) may still escape it."""
    if isinstance(exc, KombuOperationalError | OSError):
        return True
    with app.connection_for_write() as broker:
        return isinstance(exc, (*broker.connection_errors, *broker.channel_errors))
