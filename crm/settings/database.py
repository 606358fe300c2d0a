"""The database: PostgreSQL through django-tenants' backend (one schema per brand)."""

import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
