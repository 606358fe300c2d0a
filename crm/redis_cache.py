"""The default cache's Redis server, for the few per-request paths that need more than Django's
cache API (the API's rate counter, the API key generation).

Django's RedisCache builds a client object for every operation, which cost ~0.1 ms of CPU per call
on a partner API request; these share one client (and its connection pool) per process. Keys are
made by the cache's own key function, so they carry the brand's schema prefix like every cache key.
"""

import functools

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache


@functools.cache
def _client(location: str) -> redis.Redis:
    return redis.Redis.from_url(location)


def cache_redis() -> redis.Redis | None:
    """One client for the process to the default cache's Redis, or None when the cache is not
    Redis (the database cache of a bare development set-up)."""
    if not isinstance(caches["default"], RedisCache):
        return None
    return _client(settings.CACHES["default"]["LOCATION"])


def cache_key(key: str) -> str:
    """`key` as the default cache stores it (brand schema prefix, version)."""
    return caches["default"].make_and_validate_key(key)


def cache_counter_get(key: str) -> int:
    """The default cache's integer counter `key` (0 when missing), on the process's one Redis
    client when the cache is Redis (Django's cache stores an int as its digits there, so
    `cache.add` / `cache.incr` and this read agree), else through Django's cache."""
    client = cache_redis()
    if client is None:
        return int(caches["default"].get(key) or 0)
    return int(client.get(cache_key(key)) or 0)


def cache_counters_get(keys: list[str]) -> list[int]:
    """cache_counter_get of several keys in one round trip (MGET on the process's one client)."""
    client = cache_redis()
    if client is None:
        found = caches["default"].get_many(keys)
        return [int(found.get(key) or 0) for key in keys]
    return [int(value or 0) for value in client.mget([cache_key(key) for key in keys])]
