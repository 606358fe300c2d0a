"""Per-key rate limit in the shared cache. Cache keys are prefixed with the brand's schema, so two
brands (or two keys) never share a counter.

A fixed window: one counter per key and window, no read-modify-write of a timestamp list (DRF's
SimpleRateThrottle loses counts under concurrency). With Redis (production) the counter is one
atomic script call: increment, and give the counter its expiry when it is new — one round trip
on a client kept for the process (Django's cache builds a new redis client object per operation,
which with `add` + `incr` was ~0.5 ms of CPU per API call). Other caches (the database cache of a
bare development set-up) use `add`, then a read and a write: approximate under heavy concurrency.
"""

import functools
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from crm.redis_cache import cache_counters_get, cache_key, cache_redis

from .models import ApiKey

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
# Set on the Django request by the key check when it counted the request in the same round trip
# as its own cache read (remembered_keys.py): (counter key, count).
COUNTED = "api_rate_counted"


def rate_parse(rate: str) -> tuple[int, int]:
    """'1200/min' -> (1200, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().lower()]


@dataclass(frozen=True)
class RateWindow:
    """The current fixed window of one key's rate limit on one view."""

    counter: str  # cache key of the window's counter
    limit: int
    timeout: int  # a new counter's lifetime
    ends_at: float  # epoch seconds


def clock() -> float:
    """Epoch seconds: the one clock the windows are cut from (a test holds it still or steps it)."""
    return time.time()


def rate_window(view: Any, prefix: str) -> RateWindow:
    limit, period = rate_parse(getattr(view, "throttle_rate", None) or settings.API_THROTTLE_RATE)
    window = int(clock() // period)
    # +1 s so the counter outlives its window even with clock skew between web processes.
    return RateWindow(f"api:throttle:{prefix}:{period}:{window}", limit, period + 1, (window + 1) * period)


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = getattr(request, "auth", None)
        if not isinstance(api_key, ApiKey):
            return True  # unauthenticated requests are refused before anything costly happens
        window = rate_window(view, api_key.prefix)
        counted = getattr(request._request, COUNTED, None)
        if counted is not None and counted[0] == window.counter:
            count = counted[1]
        else:
            count = window_count(window.counter, timeout=window.timeout)
        if count > window.limit:
            self._wait = window.ends_at - clock()
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


def request_counted(request: HttpRequest, counter: str, count: int) -> None:
    """Record that `request` was already counted in `counter` (see COUNTED)."""
    setattr(request, COUNTED, (counter, count))


_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# The same, and the value of KEYS[2] (nil when missing) in the same round trip.
_COUNT_IN_WINDOW_AND_GET = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('GET', KEYS[2])}
"""


@functools.cache
def _script(client: redis.Redis, source: str) -> Any:
    return client.register_script(source)


def window_count(key: str, *, timeout: int) -> int:
    """Add one to the counter `key` (in the cache, with its key prefix) and return it; a new
    counter lives `timeout` seconds."""
    client = cache_redis()
    if client is not None:
        return int(_script(client, _COUNT_IN_WINDOW)(keys=[cache_key(key)], args=[timeout]))
    if cache.add(key, 1, timeout=timeout):
        return 1
    # Not cache.incr: the base class's (the database cache's) sets the new value with the cache's
    # default timeout, so a counter would outlive its window (and a window longer than that
    # default would restart its count). Read and write, as that incr did, with the window's timeout.
    count = int(cache.get(key, 0)) + 1
    cache.set(key, count, timeout=timeout)
    return count


_COUNT_MANY_IN_WINDOW = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCR', key)
    if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts
"""


def window_counts(keys: list[str], *, timeout: int) -> list[int]:
    """window_count of each of `keys`, in one Redis round trip."""
    client = cache_redis()
    if client is None or not keys:
        return [window_count(key, timeout=timeout) for key in keys]
    counts = _script(client, _COUNT_MANY_IN_WINDOW)(keys=[cache_key(key) for key in keys], args=[timeout])
    return [int(count) for count in counts]


_COUNT_MANY_UNLESS_AT_LIMIT = """
for i = 1, tonumber(ARGV[1]) do
    if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i + 2]) then return {-1} end
end
local counts = {}
for i = tonumber(ARGV[1]) + 1, #KEYS do
    local count = redis.call('INCR', KEYS[i])
    if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
    counts[#counts + 1] = count
end
return counts
"""


def window_counts_unless_at_limit(limits: dict[str, int], keys: list[str], *, timeout: int) -> list[int] | None:
    """None when one of the counters `limits` names (cache key → limit) has reached its limit;
    else window_counts(keys): the check and the counts in one Redis round trip."""
    client = cache_redis()
    if client is None:
        if any(count >= limit for count, limit in zip(cache_counters_get(list(limits)), limits.values(), strict=True)):
            return None
        return window_counts(keys, timeout=timeout)
    counts = _script(client, _COUNT_MANY_UNLESS_AT_LIMIT)(
        keys=[cache_key(key) for key in [*limits, *keys]], args=[len(limits), timeout, *limits.values()]
    )
    if counts and int(counts[0]) < 0:
        return None
    return [int(count) for count in counts]


def window_count_and_get(client: redis.Redis, key: str, *, timeout: int, other: str) -> tuple[int, bytes | None]:
    """window_count(key) and the raw value of the cache key `other`, in one Redis round trip."""
    count, value = _script(client, _COUNT_IN_WINDOW_AND_GET)(keys=[cache_key(key), cache_key(other)], args=[timeout])
    return int(count), value
