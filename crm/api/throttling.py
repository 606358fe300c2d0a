"""Per-key rate limit in the shared cache. Cache keys are prefixed with the brand's schema, so two
brands (or two keys) never share a counter.

A fixed window (`add` then `incr`) costs one or two cache round trips and no read-modify-write of
a timestamp list (DRF's SimpleRateThrottle loses counts under concurrency). With Redis `incr` is
atomic; the database cache's is not, so there the limit is approximate under heavy concurrency.
"""

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
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
        cache_key = f"api:throttle:{api_key.prefix}:{period}:{window}"
        # +1 s so the counter outlives its window even with clock skew between web processes.
        cache.add(cache_key, 0, timeout=period + 1)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # evicted between add and incr
            cache.add(cache_key, 1, timeout=period + 1)
            count = 1
        if count > limit:
            self._wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
