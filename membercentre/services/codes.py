"""The member code (会员码): a rotating numeric code on the member's card that identifies the member
at the counter (workbench) and at the POS (partner API).

- 18 random decimal digits from `secrets` (log2(10^18) ≈ 59.8 bits), valid MEMBER_CODE_TTL
  seconds. Even with every one of a million members holding a live code, one guess hits one with
  probability 10^6 / 10^18 = 10^-12; and a caller that sends MISS_LIMIT wrong codes within
  MISS_WINDOW seconds is refused (429) before any lookup, whatever it sends next.
- Only an HMAC digest keyed by the secret key and the brand's schema is stored; a code of brand A
  is looked up in brand A's schema only, so on brand B's host it is unknown.
- Resolving (identify) is audited: who, which member, when, through what. `member_code_consume`
  is the one call for anything that moves value (redeem, coupon write-off): one conditional
  UPDATE marks the code used, so a code moves value once; a retry with the same reference gets
  the same member back, any other use is refused as used.
- A code shown by a member who has since been merged into another (members.member_merge) names
  the surviving member: the person at the counter is the same.
"""

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.db import connection
from crm.redis_cache import cache_counter_get
from members.models import Member
from members.selectors import member_survivor

from .. import error_codes
from ..models import MemberCode, MemberCodeResolution

MEMBER_CODE_DIGITS = 18
MEMBER_CODE_TTL = dt.timedelta(seconds=60)
MEMBER_CODE_RE = re.compile(rf"^[0-9]{{{MEMBER_CODE_DIGITS}}}$")
# Wrong codes tolerated per caller (API key's partner, staff user) and window.
MISS_LIMIT = 20
MISS_WINDOW_SECONDS = 60

Via = MemberCodeResolution.Via
Purpose = MemberCodeResolution.Purpose


def member_code_entropy_bits() -> float:
    return MEMBER_CODE_DIGITS * math.log2(10)


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: dt.datetime


def _digest(code: str) -> str:
    key = f"membercentre.code:{connection.schema_name}:{settings.SECRET_KEY}".encode()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def member_code_issue(*, member_id: int) -> IssuedCode:
    """A fresh code for an active member, valid for MEMBER_CODE_TTL."""
    member = Member.objects.filter(pk=member_id).only("status", "merged_into_id").first()
    if member is None or member.status != Member.Status.ACTIVE or member.merged_into_id is not None:
        raise error_codes.error(error_codes.MEMBER_NOT_ACTIVE, status=403)
    now = timezone.now()
    for _attempt in range(3):
        code = f"{secrets.randbelow(10**MEMBER_CODE_DIGITS):0{MEMBER_CODE_DIGITS}d}"
        try:
            with transaction.atomic():
                MemberCode.objects.create(
                    member_id=member_id, digest=_digest(code), issued_at=now, expires_at=now + MEMBER_CODE_TTL
                )
        except IntegrityError:  # the same 18 digits drawn twice within a day: draw again
            continue
        return IssuedCode(code=code, expires_at=now + MEMBER_CODE_TTL)
    raise RuntimeError("member code space exhausted")  # pragma: no cover - 10^18 codes


def _miss_key(actor: str) -> str:
    return f"membercentre:code-miss:{connection.schema_name}:{actor}"


def _misses(actor: str) -> int:
    return cache_counter_get(_miss_key(actor))


def _miss(actor: str) -> None:
    key = _miss_key(actor)
    if not cache.add(key, 1, MISS_WINDOW_SECONDS):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, MISS_WINDOW_SECONDS)


def _throttle_check(actor: str) -> None:
    if _misses(actor) >= MISS_LIMIT:
        raise error_codes.error(error_codes.MEMBER_CODE_THROTTLED, status=429, wait=MISS_WINDOW_SECONDS)


def _refusal(row: MemberCode | None, *, actor: str, now: dt.datetime) -> Exception:
    if row is None:
        _miss(actor)
        return error_codes.error(error_codes.MEMBER_CODE_INVALID, status=404)
    if row.consumed_at is not None:
        return error_codes.error(error_codes.MEMBER_CODE_USED, status=409)
    if row.expires_at <= now:
        return error_codes.error(error_codes.MEMBER_CODE_EXPIRED, status=410)
    return error_codes.error(error_codes.MEMBER_NOT_ACTIVE, status=403)


def _member_usable(member: Member | None) -> bool:
    return member is not None and member.status == Member.Status.ACTIVE and member.merged_into_id is None


_CODE_FIELDS = [f.attname for f in MemberCode._meta.concrete_fields]
_MEMBER_FIELDS = [f.attname for f in Member._meta.concrete_fields]
# Resolve in one round trip (the partner POS resolves at the counter, issue 25's ≥ 500/s): the
# code and its member by the digest's unique index, and the audit row written by the same
# statement when the code is live and unused and its member active and not merged. Anything else
# (a refusal, a merged member whose survivor is resolved) is decided in Python from the row.
_RESOLVE = f"""
    WITH found AS (
        SELECT {", ".join(f"c.{f.column}" for f in MemberCode._meta.concrete_fields)},
               {", ".join(f"m.{f.column} AS m_{f.column}" for f in Member._meta.concrete_fields)}
        FROM {MemberCode._meta.db_table} c JOIN {Member._meta.db_table} m ON m.id = c.member_id
        WHERE c.digest = %(digest)s
    ), audit AS (
        INSERT INTO {MemberCodeResolution._meta.db_table} (member_id, via, purpose, actor, reference, resolved_at)
        SELECT m_id, %(via)s, %(purpose)s, %(actor)s, '', %(now)s FROM found
        WHERE consumed_at IS NULL AND expires_at > %(now)s AND m_status = %(active)s AND m_merged_into_id IS NULL
        RETURNING id
    )
    SELECT found.*, (SELECT count(*) FROM audit) FROM found
"""  # noqa: S608 - the models' own table and column names; every value is bound


def member_code_resolve(*, code: str, via: str, actor: str) -> Member:
    """The member behind a live, unused code (audited), or a clear refusal: invalid (404),
    expired (410), used (409), member not active (403), too many wrong codes (429)."""
    _throttle_check(actor)
    code = (code or "").strip()
    now = timezone.now()
    row: MemberCode | None = None
    audited = False
    if MEMBER_CODE_RE.match(code):
        with connection.cursor() as cursor:
            cursor.execute(
                _RESOLVE,
                {
                    "digest": _digest(code),
                    "via": via,
                    "purpose": Purpose.IDENTIFY,
                    "actor": actor[:150],
                    "now": now,
                    "active": Member.Status.ACTIVE,
                },
            )
            found = cursor.fetchone()
        if found is not None:
            split = len(_CODE_FIELDS)
            row = MemberCode.from_db(connection.alias, _CODE_FIELDS, found[:split])
            row.member = Member.from_db(connection.alias, _MEMBER_FIELDS, found[split:-1])
            audited = bool(found[-1])
    if audited:
        assert row is not None
        return row.member
    member = member_survivor(row.member) if row is not None else None
    if row is None or row.consumed_at is not None or row.expires_at <= now or not _member_usable(member):
        raise _refusal(row, actor=actor, now=now)
    assert member is not None
    MemberCodeResolution.objects.create(  # a merged member's code: its survivor is audited
        member=member, via=via, purpose=Purpose.IDENTIFY, actor=actor[:150], resolved_at=now
    )
    return member


def member_code_consume(*, code: str, via: str, actor: str, reference: str) -> Member:
    """Use a code once, for something that moves value (redeem, coupon write-off): one
    conditional UPDATE (unused and live) whose row count is checked. `reference` names the
    business operation (redemption or write-off number); a retry with the same reference returns
    the same member, anything else on a used code is refused. Call it inside the caller's
    transaction so the code stays unused if the operation fails."""
    if not reference.strip():
        raise ValueError("member_code_consume needs the operation's reference")
    _throttle_check(actor)
    code = (code or "").strip()
    digest = _digest(code) if MEMBER_CODE_RE.match(code) else ""
    now = timezone.now()
    refusal: bool | None = None
    with transaction.atomic():
        updated = MemberCode.objects.filter(digest=digest, consumed_at__isnull=True, expires_at__gt=now).update(
            consumed_at=now, consumed_for=reference[:100]
        )
        row = MemberCode.objects.select_related("member").filter(digest=digest).first() if digest else None
        member = member_survivor(row.member) if row is not None else None
        if updated:
            assert row is not None and member is not None
            if not _member_usable(member):  # frozen or erased: the code stays unused (rolled back)
                raise error_codes.error(error_codes.MEMBER_NOT_ACTIVE, status=403)
            MemberCodeResolution.objects.create(
                member=member,
                via=via,
                purpose=Purpose.CONSUME,
                actor=actor[:150],
                reference=reference[:100],
                resolved_at=now,
            )
        elif row is None or row.consumed_at is None or row.consumed_for != reference[:100]:
            refusal = True  # decided below, outside the transaction (a miss is counted in the cache)
    if refusal is not None:
        raise _refusal(row, actor=actor, now=now)
    assert member is not None
    return member


def member_codes_purge(*, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete code rows long past their expiry (the resolution audit stays)."""
    deleted, _ = MemberCode.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted
