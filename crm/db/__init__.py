"""`connection`: Django's default database connection, typed as this project's backend.

`django.db.connection` is typed as Django's base wrapper, which has none of django-tenants'
schema attributes and methods (`schema_name`, `tenant`, `set_tenant`, `set_schema_to_public`,
...). This is the very same object, typed as the backend that has them: code that reads or
switches the brand schema imports `connection` from here instead. The backend is imported for the
type checker only, so this module imports nothing at run time that `django.db` does not (the
celery app imports it while the settings load, before the apps the backend's module needs).
"""

from typing import TYPE_CHECKING, cast

from django.db import connection as _connection

if TYPE_CHECKING:
    from crm.db.backend.base import DatabaseWrapper

connection = cast("DatabaseWrapper", _connection)
