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
- migrations: none pending for the schema of the host asked (public or the brand's): the code's
  migrations (the graph built once per process) against the schema's `django_migrations`.

Cheap enough for a load balancer to probe every few seconds: a few milliseconds, no write that
outlives the probe. When the database cannot be reached at all, the request fails before this
view runs (the host → brand look-up is its first query); crm/server_error.py then answers
`health_failure` with the same shape. Errors are named by type only: the page is public, and the
messages (hosts, users, SQL) go to the log.
"""

import functools
import logging
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db.migrations.loader import MigrationLoader
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


@functools.cache
def _expected_migrations() -> tuple[tuple[tuple[str, str], tuple[tuple[str, str], ...]], ...]:
    """Every migration of the code, in order, each with what it replaces (a squash counts as
    applied when all it replaces are). The code does not change under a running process, so the
    graph — reading and linking every migration module, ~12 ms of CPU — is built once per
    process, on its first probe, not on every probe."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    graph = loader.graph
    plan: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for leaf in graph.leaf_nodes():
        for key in graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                plan.append(key)
    return tuple((key, tuple((app, name) for app, name in loader.disk_migrations[key].replaces)) for key in plan)


def _check_migrations() -> dict[str, object]:
    """Unapplied migrations for the schema this host serves (public or the brand's): what the code
    has (cached per process) against what the schema recorded (one query per probe)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations")
        applied = set(cursor.fetchall())
    pending = [
        f"{app}.{name}"
        for (app, name), replaces in _expected_migrations()
        if (app, name) not in applied and not (replaces and all(r in applied for r in replaces))
    ]
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
