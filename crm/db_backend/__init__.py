"""The project's database backend: django-tenants' PostgreSQL backend, with a health check that
costs no round trip (base.py)."""
