"""Webhook signatures: `X-CRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.

The timestamp is signed with the body so a captured delivery cannot be replayed later: receivers
should refuse signatures older than a few minutes (`signature_verify(..., tolerance=300)`).
"""

import hashlib
import hmac
import time


def signature_compute(*, secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature_compute(secret=secret, timestamp=timestamp, body=body)}"


def signature_verify(*, secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (and what our tests do): check the signature and its age."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        signature = fields["v1"]
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature_compute(secret=secret, timestamp=timestamp, body=body), signature)
