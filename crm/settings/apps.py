"""The apps, and which live in the public schema and which in every brand's schema (django-tenants)."""

import os

from django.core.exceptions import ImproperlyConfigured

# Public schema: brands, domains, platform operators, the celery beat schedule.
SHARED_APPS = [
    # The back office's theme (django-unfold): first, so its admin templates win over Django's
    # and over django-tenants' (whose inline styles the Content-Security-Policy refuses).
    "unfold",
    "django_tenants",
    "crm.tenancy",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    # drf-spectacular and its sidecar assets have no models: available on every host.
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Login protection (django-axes, crm/logins): in both lists, like django.contrib.auth, so a
    # lockout is kept in the schema where the user lives and never touches another brand.
    "axes",
    "crm.logins",
]
# One schema per brand. auth/admin/sessions are in both lists: the public admin is for platform
# operators, each brand has its own users and sessions in its own schema.
# The order is also the order of the demo seeders (crm/demo.py): each builds on the previous.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "crm.jobs",
    "members",
    "consent",
    "crm.api",
    "wecom",
    "campaigns",
    "webhooks",
    "dashboard",
    "axes",
    "crm.logins",
    "coupons",
    "scancodes",
    "engagement",
    "performance",
    "workbench",
    "membercentre",
]
INSTALLED_APPS = [
    *SHARED_APPS,
    *(app for app in TENANT_APPS if app not in SHARED_APPS),
    # Only for its static htmx (the workbench's enrolment screen polls without a reload).
    "django_htmx",
]

TENANT_MODEL = "tenancy.Brand"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
PUBLIC_SCHEMA_NAME = "public"
# New brands are cloned from this migrated template schema instead of migrating from scratch.
TENANT_BASE_SCHEMA = "brand_template"
# How a new brand's schema is made (crm/tenancy/services.py, docs/scale-out.md):
# - clone: a copy of the migrated template (fast; plain PostgreSQL);
# - migrate: the migrations run in the new schema (on Citus with citus.enable_schema_based_sharding
#   on, every table is created distributed in the brand's distributed schema);
# - clone_distribute: a clone, then citus_schema_distribute() outside the transaction, which moves
#   it to a worker (a clone alone would stay on the Citus coordinator).
BRAND_SCHEMA_CREATION = os.environ.get("BRAND_SCHEMA_CREATION", "clone")
if BRAND_SCHEMA_CREATION not in ("clone", "migrate", "clone_distribute"):
    raise ImproperlyConfigured("BRAND_SCHEMA_CREATION must be clone, migrate or clone_distribute")
TENANT_CREATION_FAKES_MIGRATIONS = True
# django-tenants' router, with every cell's alias counted as the tenant database (crm/tenancy/routers.py).
TENANT_SYNC_ROUTER = "crm.tenancy.routers.CellSyncRouter"
DATABASE_ROUTERS = (TENANT_SYNC_ROUTER,)
ROOT_URLCONF = "crm.urls_brand"
PUBLIC_SCHEMA_URLCONF = "crm.urls_public"
# An unknown host is a 404, never somebody else's site.
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# Send `SET search_path` only when the schema changes, not before every query: it halves the
# round trips of every request and task (django-tenants tracks the connection's current path).
TENANT_LIMIT_SET_CALLS = True
