"""Per-key rate limit in the shared cache. Cache keys are prefixed with the brand's schema, so two
brands (or two keys) never share a counter.

A fixed window: one counter per key and window, no read-modify-write of a timestamp list (DRF's
SimpleRateThrottle loses counts under concurrency). With Redis (production) the counter is one
atomic script call: increment, and give the counter its expiry when it is new — one round trip
on a client kept for the process (Django's cache builds a new redis client object per operation,
which with `add` + `incr` was ~0.5 ms of CPU per API call). Other caches (the database cache of a
bare development set-up) use `add` then `incr`, which is approximate under heavy concurrency.
"""

import functools
import time
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from .models import ApiKey

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """'1200/min' -> (1200, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().lower()]


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = getattr(request, "auth", None)
        if not isinstance(api_key, ApiKey):
            return True  # unauthenticated requests are refused before anything costly happens
        limit, period = rate_parse(getattr(view, "throttle_rate", None) or settings.API_THROTTLE_RATE)
        now = time.time()
        window = int(now // period)
        # +1 s so the counter outlives its window even with clock skew between web processes.
        count = window_count(f"api:throttle:{api_key.prefix}:{period}:{window}", timeout=period + 1)
        if count > limit:
            self._wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@functools.cache
def _redis_counter(location: str) -> Any:
    return redis.Redis.from_url(location).register_script(_COUNT_IN_WINDOW)


def window_count(key: str, *, timeout: int) -> int:
    """Add one to the counter `key` (in the cache, with its key prefix) and return it; a new
    counter lives `timeout` seconds."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        counter = _redis_counter(settings.CACHES["default"]["LOCATION"])
        return int(counter(keys=[backend.make_and_validate_key(key)], args=[timeout]))
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1
