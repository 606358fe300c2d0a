"""Idempotency-Key for POSTs: the claim, the stored response and its replay.

How a POST with a key runs (all inside ONE transaction, the same one as the work):
1. `pg_try_advisory_xact_lock(<brand, partner, key>)`. Not granted means another request with
   this key is running right now → 409 `idempotency_in_progress` (we do not wait: the partner's
   retry is cheaper than a web worker blocked for the length of somebody else's request).
2. Look up the stored record. Found: same fingerprint → replay it byte for byte with
   `Idempotent-Replayed: true`; different method/path/body → 422 `idempotency_key_reused`.
3. Not found: do the work, insert the record with the rendered response, commit. The lock is
   released only after the commit is visible, and each statement in READ COMMITTED takes a new
   snapshot, so the next holder of the lock always sees the record of the one before.
If the work fails, the transaction rolls back with the lock: nothing was done, nothing is stored,
and the key can be retried. Only 2xx responses are stored; an error changed nothing, so a retry
simply runs again.
"""

import hashlib
import re

from django.http import HttpResponse

from crm.db.locks import API_IDEMPOTENCY, xact_advisory_try_lock

from .models import IdempotencyRecord, Partner

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
# Response headers that belong to the stored response (everything else is recomputed).
STORED_HEADERS = ("Location",)
# 1 to 255 visible ASCII characters; the OpenAPI schema declares the same (openapi.py).
IDEMPOTENCY_KEY_MAX_LENGTH = 255
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def idempotency_key_valid(key: str) -> bool:
    return bool(_VALID_KEY.fullmatch(key))  # fullmatch: `$` would let a trailing newline through


def idempotency_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguity between parts
        digest.update(part)
    return digest.hexdigest()


def idempotency_try_lock(*, partner_id: int, key: str) -> bool:
    """Take the transaction-scoped lock for this key, or report that another request has it."""
    return xact_advisory_try_lock(API_IDEMPOTENCY, partner_id, key)


def idempotency_record_get(*, partner: Partner, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(partner=partner, key=key).first()


def idempotency_record_store(
    *, partner: Partner, key: str, fingerprint: str, response: HttpResponse
) -> IdempotencyRecord:
    """Store the rendered response (inside the request's transaction, next to the work)."""
    return IdempotencyRecord.objects.create(
        partner=partner,
        key=key,
        fingerprint=fingerprint,
        status_code=response.status_code,
        content_type=response.get("Content-Type", "application/json"),
        body=bytes(response.content),
        headers={name: response[name] for name in STORED_HEADERS if response.has_header(name)},
    )


def idempotency_replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type)
    for name, value in record.headers.items():
        response[name] = value
    response[REPLAY_HEADER] = "true"
    return response
