"""API key format and hashing, shared by the services, the authentication and the benchmark.

A key is `<prefix>.<secret>`: the prefix (10 lower-case letters/digits) is public and indexed, the
secret is 32 random bytes. Because the secret has 256 bits of entropy, a single SHA-256 is a
sufficient hash: there is nothing to brute-force, so a slow password hash (PBKDF2, ~100 ms) would
only cost time on every request. Verification is one indexed lookup plus one hash (≪ 1 ms).
"""

import hashlib
import hmac
import secrets
import string

PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 10


def key_generate() -> tuple[str, str, str]:
    """(plaintext, prefix, secret_hash) of a new key."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(32)
    return f"{prefix}.{secret}", prefix, secret_hash(secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_split(raw: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    prefix, dot, secret = raw.partition(".")
    if not dot or len(prefix) != PREFIX_LENGTH or not secret or len(secret) > 128:
        return None
    if any(char not in PREFIX_ALPHABET for char in prefix):
        return None
    return prefix, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    # Constant-time comparison: response timing must not reveal how much of a hash matched.
    return hmac.compare_digest(secret_hash(secret), stored_hash)
