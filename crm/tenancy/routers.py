"""Which apps' tables a migration creates, in every cell.

django-tenants' TenantSyncRouter allows migrations on the `default` alias only. A cell's process
swaps `connections["default"]` for the cell's own connection (crm/tenancy/cells.py), whose alias
is `cell_<name>`, and Django asks the router with that alias: TenantSyncRouter said no to every
model, so `migrate_brands --cell <name>` recorded every migration of a new cell's public schema
(and of its brands) as applied without creating a table. Here every cell's alias counts as the
tenant database; which apps is decided as django-tenants does, by the connection's schema."""

from typing import Any

from django.conf import settings
from django.db import connections
from django_tenants.routers import TenantSyncRouter
from django_tenants.utils import get_public_schema_name


class CellSyncRouter(TenantSyncRouter):
    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if db not in {cell["alias"] for cell in settings.CELLS.values()}:
            return False
        public = getattr(connections[db], "schema_name", None) == get_public_schema_name()
        return None if self.app_in_list(app_label, settings.SHARED_APPS if public else settings.TENANT_APPS) else False
