"""The database: PostgreSQL through django-tenants' backend (one schema per brand)."""

import os
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .environment import env_list

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `python3 dev.py serve` starts an embedded PostgreSQL and sets it."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
# django-tenants' backend with a health check that costs no round trip (crm/db/backend/base.py).
DATABASES["default"]["ENGINE"] = "crm.db.backend"
# Server-side parameter binding, and statements prepared once a connection has run them 5 times
# (psycopg's threshold): the hot paths (order ingest, key check) are the same few statements
# again and again, and planning them was ~1.2 ms of PostgreSQL CPU per order (bench/README.md).
# Django's default binds on the client and never prepares. A prepared statement is re-planned
# by PostgreSQL when search_path changes, so one connection serving several brands stays
# correct. Behind PgBouncer in transaction mode this needs PgBouncer >= 1.21 with
# max_prepared_statements set; or set DATABASE_PREPARE_THRESHOLD=off.
_prepare_threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")
DATABASES["default"].setdefault("OPTIONS", {}).update(
    server_side_binding=True,
    prepare_threshold=None if _prepare_threshold == "off" else int(_prepare_threshold),
)
# How this process's connections are pooled (docs/scale-out.md "PgBouncer in front of Citus"): "session" (direct,
# or PgBouncer in session mode) or "transaction" (PgBouncer in transaction mode: each transaction
# may run on another server connection). With "transaction", nothing may outlive a transaction:
# no server-side cursor kept between transactions (Django's .iterator() in autocommit declares one
# WITH HOLD), no session advisory lock (the bulk jobs' one-worker locks: run celery workers and
# management commands through a session-mode pool), no temporary table read by a later transaction
# (the app makes none: on Citus one could not be joined to a brand's distributed tables).
DATABASE_POOL_MODE = os.environ.get("DATABASE_POOL_MODE", "session")
if DATABASE_POOL_MODE not in ("session", "transaction"):
    raise ImproperlyConfigured("DATABASE_POOL_MODE must be session or transaction")
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DATABASE_POOL_MODE == "transaction"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cells: the PostgreSQL clusters brands live in (crm/tenancy/cells.py, docs/cells.md) -----------
# DATABASE_URL is the control database (every brand's row, the brand → cell map) and the `default`
# cell. CELL_URLS names more cells, "b=postgres://host-b/crm,c=postgres://host-c/crm": each gets the
# database alias `cell_<name>` with the default database's engine and statement binding. CELL_CAPS caps the
# brands of a cell ("default=0,b=1000": 0 takes no new brand); CELL_BRAND_CAP is the cap of the
# others (docs/cells.md "Caps" says where 1,000 comes from). Without CELL_URLS: one cell, as before.


def cell_database(url: str) -> dj_database_url.DBConfig:
    """A cell's DATABASES entry: its own server, database and libpq options (an embedded server's
    socket folder comes as `?host=...`), the default database's engine, statement binding and
    server-side cursor rule (DATABASE_POOL_MODE)."""
    conf = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    binding = {key: DATABASES["default"]["OPTIONS"][key] for key in ("server_side_binding", "prepare_threshold")}
    conf["ENGINE"] = DATABASES["default"]["ENGINE"]
    conf["DISABLE_SERVER_SIDE_CURSORS"] = DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"]
    conf["OPTIONS"] = {**conf.get("OPTIONS", {}), **binding}
    return conf


CELL_BRAND_CAP = int(os.environ.get("CELL_BRAND_CAP", "1000"))
_cell_caps = dict(item.split("=", 1) for item in env_list("CELL_CAPS", []))
CELLS: dict[str, dict[str, Any]] = {
    "default": {"alias": "default", "cap": int(_cell_caps.get("default", CELL_BRAND_CAP))}
}
for _item in env_list("CELL_URLS", []):
    _cell_name, _, _cell_url = _item.partition("=")
    if not _cell_name.isidentifier() or not _cell_url or _cell_name in CELLS:
        raise ImproperlyConfigured(f"CELL_URLS: {_item!r} is not name=postgres://... with a new name")
    DATABASES[f"cell_{_cell_name}"] = cell_database(_cell_url)
    CELLS[_cell_name] = {"alias": f"cell_{_cell_name}", "cap": int(_cell_caps.get(_cell_name, CELL_BRAND_CAP))}
# The cell a celery beat process schedules for (its public schema holds that cell's beat entries).
CELERY_BEAT_CELL = os.environ.get("CELERY_BEAT_CELL", "default")
