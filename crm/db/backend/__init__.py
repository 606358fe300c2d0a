"""The project's database backend: django-tenants' PostgreSQL backend, with a health check that
costs no round trip and psycopg's C timestamp parser (base.py)."""
