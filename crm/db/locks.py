"""Locks: the project's row-lock order, and the one registry of advisory-lock keys.

ROW LOCKS — every service that writes takes its row locks in this order, so no two services ever
wait on each other in a cycle (each app's module says which steps it takes, and why):
  1. member rows, ascending id, `FOR NO KEY UPDATE` (`members.services.points.member_lock`; not
     FOR UPDATE: inserting an order, entry or lot takes KEY SHARE on its member, which NO KEY
     UPDATE does not block); set-based jobs lock all their members in one `ORDER BY id` statement;
     a referral row, when one is settled, is taken just before (engagement/services/referral.py);
  2. rows that belong to one member: its order (refunds), its manual-adjustment counters, its
     growth account and activity month, its check-in cycle;
  3. that member's points lots, by (expires_at NULLS LAST, id);
  4. shared stock: reward rows, ascending id; a coupon template (issuing), then its holdings;
     a campaign's budget row (referral), then the referrer's quota rows.
  WeCom callbacks hold their event row, then the follow relation, and reach member rows last,
  through members' services. Write-off never locks a template, so it never meets issuing.
Reads never lock.

ADVISORY LOCKS — for what a row cannot hold: one worker at a time on a job made of many
transactions (a session lock, released when the session ends, so a redelivered task can take
over from a worker that died), or one request at a time for a key that has no row yet (a
transaction lock). They are database-wide while brands are schemas of one database, so every key
of a brand's work carries the brand's schema. Every kind is registered below, once: its name is
the key's prefix, so two kinds can never collide and a reader finds every lock here.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from crm.db import connection


@dataclass(frozen=True)
class AdvisoryLockKind:
    name: str
    per_brand: bool  # the key carries the connection's schema
    # hashtext (32 bits) for the two kinds that used it first: a worker of the previous release
    # and one of this release must compute the same key during a rolling deploy.
    hash_function: str = "hashtextextended(%s, 0)"
    what: str = ""


ADVISORY_LOCKS: dict[str, AdvisoryLockKind] = {}


def _register(name: str, *, per_brand: bool = True, hash_function: str = "", what: str) -> AdvisoryLockKind:
    kind = AdvisoryLockKind(name, per_brand, hash_function or "hashtextextended(%s, 0)", what)
    ADVISORY_LOCKS[name] = kind
    return kind


BRAND_PROVISION = _register(
    "crm.brand_provision",
    per_brand=False,
    hash_function="hashtext(%s)",
    what="one brand created at a time (the template schema is migrated and cloned once)",
)
API_IDEMPOTENCY = _register("crm.api.idempotency", what="one partner request per idempotency key")
LIFECYCLE_JOB = _register("members.refresh_lifecycle", what="one lifecycle refresh per brand")
MEMBER_IMPORT = _register("members.import_job", what="one worker per member import")
COUPON_POOL_JOB = _register("coupons.pool_job", what="one worker per coupon-code pool job")
SCANCODE_IMPORT = _register("scancodes.import", what="one worker per printer-code / dealer import")
PERFORMANCE_ROLLUPS = _register("performance.rollups", what="one build of the staff-performance rollups per brand")
CAMPAIGN_OCCURRENCE = _register(
    "campaigns.occurrence", hash_function="hashtext(%s)", what="one worker per campaign occurrence"
)
BULK_PUMP = _register(
    "crm.bulk_pump",
    per_brand=False,
    what="one pump per brand at a time, so its cap of bulk chunks in flight holds (crm/tenancy/pump.py)",
)


def advisory_key(kind: AdvisoryLockKind, *parts: object) -> str:
    """`<kind>[:<schema>][:<part>…]` — the text hashed into the lock's key."""
    if ADVISORY_LOCKS.get(kind.name) is not kind:
        raise ValueError(f"advisory lock kind {kind.name!r} is not registered in crm/db/locks.py")
    prefix = [kind.name, connection.schema_name] if kind.per_brand else [kind.name]
    return ":".join([*prefix, *(str(part) for part in parts)])


def _locked(function: str, kind: AdvisoryLockKind, parts: tuple[object, ...]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}({kind.hash_function})", [advisory_key(kind, *parts)])
        return bool(cursor.fetchone()[0])


@contextmanager
def session_advisory_lock(kind: AdvisoryLockKind, *parts: object) -> Iterator[bool]:
    """Try to take the session lock without waiting; yields whether it was granted and releases
    it when the block ends (or PostgreSQL does, when the session ends).

    Refused on a transaction-pooled connection (DATABASE_POOL_MODE=transaction): there the unlock
    may reach another server connection than the lock, which would keep the lock for as long as
    that server connection lives, and grant it again to any client the pooler puts on it."""
    if settings.DATABASE_POOL_MODE == "transaction":
        raise ImproperlyConfigured(
            f"the {kind.name} lock is a session lock: run this job through a session-mode connection "
            "(celery workers and management commands: DATABASE_POOL_MODE=session, docs/scale-out.md)"
        )
    locked = _locked("pg_try_advisory_lock", kind, parts)
    try:
        yield locked
    finally:
        if locked:
            _locked("pg_advisory_unlock", kind, parts)


def xact_advisory_lock(kind: AdvisoryLockKind, *parts: object) -> None:
    """Wait for the transaction lock; it is held until the transaction ends."""
    _locked("pg_advisory_xact_lock", kind, parts)


def xact_advisory_try_lock(kind: AdvisoryLockKind, *parts: object) -> bool:
    """Take the transaction lock if free; False when another transaction holds it."""
    return _locked("pg_try_advisory_xact_lock", kind, parts)
