"""The export's keyed-once HMAC gives the very secrets the scan checks."""

import secrets

from scancodes import claim_keys


def test_the_exports_secret_function_equals_secret_for_for_any_key_and_serial():
    for _ in range(5):
        key = secrets.token_bytes(claim_keys.BATCH_KEY_BYTES)
        fast = claim_keys.secret_function(key)
        for serial in (1, 100_000_000_001, 2**62 - 1, *range(100_000_000_100, 100_000_000_400)):
            assert fast(serial) == claim_keys.secret_for(key, serial)
            assert len(fast(serial)) == claim_keys.SECRET_CHARS
