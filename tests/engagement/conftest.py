"""Engagement test fixtures."""

from collections.abc import Iterator

import pytest

from engagement.rewards import coupon_issuer_current, coupon_issuer_register, coupon_issuer_unregister


@pytest.fixture
def without_coupon_issuer() -> Iterator[None]:
    """Engagement registers the real coupons issuer at start-up; a test of the refusal path takes it
    away and the real one is put back afterwards, whatever the test registered meanwhile."""
    real = coupon_issuer_current()
    coupon_issuer_unregister()
    try:
        yield
    finally:
        if real is not None:
            coupon_issuer_register(real)
        else:
            coupon_issuer_unregister()
