"""The cache: shared between processes (web, worker, beat), every key prefixed with the schema."""

import os
from typing import Any

CACHE_URL = os.environ.get("CACHE_URL", "")


def cache_config(url: str = "", *, table: str = "crm_cache") -> dict[str, Any]:
    """The default cache for a CACHE_URL: Redis for redis://..., else a table in the public schema
    (still shared by web, worker and beat). Keys carry the brand's schema either way. Tests that
    swap the cache build it here too, so each backend gets only its own options."""
    keys = {"KEY_FUNCTION": "django_tenants.cache.make_key", "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key"}
    if url.startswith("redis"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, **keys}
    return {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": table,
        # Django culls a third of the table past 300 entries by default, which would forget rate
        # counters and lockouts under load; an entry is small.
        "OPTIONS": {"MAX_ENTRIES": 100_000},
        **keys,
    }


CACHES = {"default": cache_config(CACHE_URL)}
