"""The celery app. Built on tenant-schemas-celery: every message carries the schema of the brand
that sent it (header `_schema_name`) and the worker switches to that schema before the task runs.
"""

import logging
import os
import reprlib
import time
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError
from tenant_schemas_celery.app import CeleryApp

from crm.db import connection

# A worker or beat started without DJANGO_SETTINGS_MODULE runs production's settings (DEBUG off,
# no default key); dev.py and the tests name theirs.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.prod")

logger = logging.getLogger(__name__)

app = CeleryApp("crm")
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
#   scancodes.import_run — the dealer / printer's code import stays waiting; its result page offers
#     继续导入 once it has made no progress for 5 minutes (scancodes/admin_imports.py).
#   campaigns.send_occurrence_messages — campaigns-send-lost-messages (every 10 min) sends the
#     occurrences whose queued messages no send ever claimed (campaigns/messaging.py).
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
