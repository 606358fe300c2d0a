"""`connection`: Django's default database connection, typed as this project's backend.

`django.db.connection` is typed as Django's base wrapper, which has none of django-tenants'
schema attributes and methods (`schema_name`, `tenant`, `set_tenant`, `set_schema_to_public`,
...). This is the very same object, typed as the backend that has them: code that reads or
switches the brand schema imports `connection` from here instead.
"""

from typing import cast

from django.db import connection as _connection

from crm.db_backend.base import DatabaseWrapper

connection = cast(DatabaseWrapper, _connection)
