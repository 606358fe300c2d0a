"""`/healthz`: can this web process serve? JSON, 200 when every check passes, else 503 listing
the failed checks in `failed`:

    {"ok": false, "failed": ["cache"], "checks": {"database": {"ok": true}, "cache": {"ok": false,
     "error": "ConnectionError"}, "broker": {"ok": true, "transport": "redis"},
     "migrations": {"ok": true, "schema": "demo", "pending": []}}}

- database: `SELECT 1`;
- cache: a real round trip — set, get and delete of a key of its own — through Django's cache, so
  an unreachable Redis or a missing `crm_cache` table fails it (every API request counts its rate
  in the cache);
- broker: a connection to it (celery's own retry kept to one attempt of 2 s);
- migrations: none pending for the schema of the host asked (public or the brand's).

Cheap enough for a load balancer to probe every few seconds: a few milliseconds, no write that
outlives the probe. When the database cannot be reached at all, the request fails before this
view runs (the host → brand look-up is its first query); crm/server_error.py then answers
`health_failure` with the same shape. Errors are named by type only: the page is public, and the
messages (hosts, users, SQL) go to the log.
"""

import logging
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache

from crm.db import connection

from .celery import app as celery_app

logger = logging.getLogger(__name__)


def _check_database() -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def _check_cache() -> dict[str, object]:
    # A key of its own per probe: concurrent probes (several balancers, several processes) never
    # read each other's value. It lives 30 s at most if the delete is lost.
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, key, timeout=30)
    read = cache.get(key)
    cache.delete(key)
    if read != key:
        return {"ok": False, "error": "value not read back"}
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


CHECKS: tuple[tuple[str, Callable[[], dict[str, object]]], ...] = (
    ("database", _check_database),
    ("cache", _check_cache),
    ("broker", _check_broker),
    ("migrations", _check_migrations),
)


def _failed(name: str, exc: BaseException) -> dict[str, object]:
    logger.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
    return {"ok": False, "error": type(exc).__name__}


def _answer(checks: dict[str, dict[str, object]]) -> JsonResponse:
    failed = [name for name, result in checks.items() if not result["ok"]]
    return JsonResponse({"ok": not failed, "failed": failed, "checks": checks}, status=503 if failed else 200)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, check in CHECKS:
        try:
            checks[name] = check()
        except Exception as exc:  # a health check reports failures, it does not raise them
            checks[name] = _failed(name, exc)
    return _answer(checks)


def health_failure(name: str, exc: BaseException) -> JsonResponse:
    """The 503 of a /healthz request that failed before the view could run its checks; `name`
    is what failed (crm/dependencies.py names a service; anything else is "web")."""
    response = _answer({name: _failed(name, exc)})
    add_never_cache_headers(response)
    return response
