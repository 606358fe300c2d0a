"""The celery app. Built on tenant-schemas-celery: every message carries the schema of the brand
that sent it (header `_schema_name`) and the worker switches to that schema before the task runs.
"""

import os
from typing import Any

from django.db import transaction
from tenant_schemas_celery.app import CeleryApp

from crm.db import connection

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")

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
    transaction.on_commit(lambda: task.apply_async(args=args, kwargs=kwargs, headers={"_schema_name": schema_name}))
