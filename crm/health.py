"""`/healthz`: database, broker and migrations, as JSON. 200 when all are fine, 503 otherwise."""

import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from crm.db import connection

from .celery import app as celery_app

logger = logging.getLogger(__name__)


def _check_database() -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def _check_broker() -> dict[str, object]:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"ok": True, "transport": celery_app.conf.broker_url.split(":", 1)[0]}


def _check_migrations() -> dict[str, object]:
    """Unapplied migrations for the schema this host serves (public or the brand's)."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
    return {"ok": not pending, "schema": connection.schema_name, "pending": pending}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, check in (
        ("database", _check_database),
        ("broker", _check_broker),
        ("migrations", _check_migrations),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # a health check reports failures, it does not raise them
            logger.warning("health check %s failed: %s", name, exc)
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    healthy = all(result["ok"] for result in checks.values())
    return JsonResponse({"ok": healthy, "checks": checks}, status=200 if healthy else 503)
