"""Verified API keys remembered by each process, checked on every request against the brand's
key generation in the shared cache.

Every partner API call used to read its key from PostgreSQL (one statement, two model instances)
and then call Redis for its rate count. Keys change a few times a year. Every change made through
the models (a key or a partner saved or deleted: created, revoked, re-scoped, expiry moved,
partner renamed) forgets this process's keys at once and, after its commit, writes a new random
token as the brand's key generation in the cache. A request reads the token first — in the same
Redis call that counts it for the rate limit, so a usual request makes one cache call and no key
query — and uses a remembered key only if it was read from the database under that same token;
otherwise it reads the database and remembers the key under the token it read before. Reading the
token before the database is what makes this safe: a key read before a change commits is
remembered under a token that the change's after-commit write replaces. A random token rather
than a counter, so a cache that lost its data (restart, eviction) never hands back a value some
process remembered.

If the after-commit write fails (the cache is down at that moment), other processes keep a
changed key for at most REMEMBER_SECONDS. A change that bypasses the models (a queryset
`update()`, SQL) must call `api_keys_changed()`. Without Redis as the cache (the database cache
of a bare development set-up) nothing is remembered.

Within an API request (`api_request_scope()`, entered by every API view) the generation the key
check read stays available to other brand state remembered the same way: which webhook events
some subscription wants (webhooks/events.py), renewed by `api_generation_renew()` when
subscriptions change. Outside an API request there is no generation, and nothing remembered is used.
"""

import contextlib
import copy
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import redis
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from crm.db import connection
from crm.memos import process_memo
from crm.redis_cache import cache_key, cache_redis

from .keys import secret_matches
from .models import ApiKey, Partner
from .throttling import RateWindow, window_count_and_get

logger = logging.getLogger(__name__)

GENERATION = "api:keys:generation"
REMEMBER_SECONDS = 60

# (database, schema, prefix) -> (monotonic expiry, generation token it was read under, key)
_remembered: dict[tuple[str, str, str], tuple[float, bytes | None, ApiKey]] = process_memo("API keys")


@dataclass
class _RequestGeneration:
    brand: tuple[str, str] | None = None  # (database, schema) the token was read for
    token: bytes | None = None


_request: ContextVar[_RequestGeneration | None] = ContextVar("api_request_generation", default=None)


@contextlib.contextmanager
def api_request_scope() -> Iterator[None]:
    """One API request: the brand's generation its key check reads is kept until it ends."""
    entered = _request.set(_RequestGeneration())
    try:
        yield
    finally:
        _request.reset(entered)


def request_generation() -> tuple[bool, bytes | None]:
    """(True, token) when the current API request read the current brand's generation — state
    remembered under that same token is current for it; (False, None) otherwise."""
    scope = _request.get()
    if scope is None or scope.brand != (connection.settings_dict["NAME"], connection.schema_name):
        return False, None
    return True, scope.token


def api_key_current(
    prefix: str, secret: str, read: Callable[[str], ApiKey | None], rate: RateWindow | None = None
) -> tuple[ApiKey | None, tuple[str, int] | None]:
    """The current brand's key with `prefix` (its partner loaded), from `read` (the database) or
    as this process read it before under the brand's current key generation. The caller gets
    its own copy, and checks the secret and the key's state itself.

    When the key is remembered and `secret` is its secret, the request is also counted in the
    rate window `rate` in the same cache round trip as the generation read, and the second value
    is (counter, count) for the throttle, so a usual API request makes one cache call, not two;
    else it is None and the throttle counts the request itself."""
    client = cache_redis()
    if client is None:
        return read(prefix), None
    slot = (connection.settings_dict["NAME"], connection.schema_name, prefix)
    remembered = _remembered.get(slot)
    if remembered is not None and remembered[0] <= time.monotonic():
        remembered = None
    if remembered is not None and rate is not None and secret_matches(secret, remembered[2].secret_hash):
        count, generation = window_count_and_get(client, rate.counter, timeout=rate.timeout, other=GENERATION)
        counted: tuple[str, int] | None = (rate.counter, count)
    else:
        # The client does not decode responses: a value is bytes.
        generation, counted = cast(bytes | None, client.get(cache_key(GENERATION))), None
    scope = _request.get()
    if scope is not None:
        scope.brand, scope.token = slot[:2], generation
    api_key: ApiKey | None
    if remembered is not None and remembered[1] == generation:
        api_key = remembered[2]
    else:
        api_key = read(prefix)
        if api_key is None:
            return None, counted  # unknown prefixes are not remembered: a new key works at once
        _remembered[slot] = (time.monotonic() + REMEMBER_SECONDS, generation, api_key)
    own = copy.copy(api_key)
    own.partner = copy.copy(api_key.partner)
    return own, counted


def api_key_used(api_key: ApiKey) -> None:
    """Keep the remembered copy's `last_used_at` equal to what was just written for `api_key`,
    so it is not written again on every request."""
    remembered = _remembered.get((connection.settings_dict["NAME"], connection.schema_name, api_key.prefix))
    if remembered is not None and remembered[2].pk == api_key.pk:
        remembered[2].last_used_at = api_key.last_used_at


def api_keys_changed(**_: Any) -> None:
    """The current brand's keys or partners changed: forget this process's keys now, and tell the
    other processes after the commit (a rolled-back change tells no one: nothing changed)."""
    _remembered.clear()
    api_generation_renew()


def api_generation_renew() -> None:
    """After the current transaction commits, give the current brand a new generation token:
    what any process remembered under the old one is read again."""
    client = cache_redis()
    if client is not None:
        transaction.on_commit(partial(_generation_renew, client, cache_key(GENERATION)), robust=True)


def api_keys_forget() -> None:
    """Forget every key this process remembers (tests start from nothing)."""
    _remembered.clear()


def _generation_renew(client: redis.Redis, key: str) -> None:
    try:
        client.set(key, secrets.token_hex(16))
    except redis.RedisError:
        logger.exception(
            "API generation not renewed: other processes keep changed keys and subscriptions up to %ss",
            REMEMBER_SECONDS,
        )


for _model in (ApiKey, Partner):
    post_save.connect(api_keys_changed, sender=_model, dispatch_uid=f"api_keys_changed_{_model.__name__}_save")
    post_delete.connect(api_keys_changed, sender=_model, dispatch_uid=f"api_keys_changed_{_model.__name__}_delete")
