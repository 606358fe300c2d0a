"""A coupon scene at a fixed instant: Tuesday 15 June 2027, 10:00 brand time (Asia/Shanghai)."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from coupons.models import CouponTemplate
from coupons.services import coupon_template_create
from tests.clock import SHANGHAI

NOW = dt.datetime(2027, 6, 15, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def fixed_clock() -> Iterator[dt.datetime]:
    with time_machine.travel(NOW, tick=False):
        yield NOW


def template(**fields: Any) -> CouponTemplate:
    """满 ¥100 减 ¥20, 30 June 2027 at the latest, unlimited, unless told otherwise."""
    values: dict[str, Any] = {
        "name": "满100减20",
        "kind": CouponTemplate.Kind.AMOUNT_OFF,
        "threshold_fen": 10_000,
        "amount_off_fen": 2_000,
        "validity_kind": CouponTemplate.ValidityKind.FIXED,
        "valid_until_date": dt.date(2027, 6, 30),
        "generic_code": "SUMMER20",
    }
    stores = fields.pop("stores", ())
    values.update(fields)
    return coupon_template_create(template=CouponTemplate(**values), store_ids=[s.pk for s in stores])


def audit_clean(schema: str = "alpha") -> None:
    """audit_coupons (and the ledger's) find nothing."""
    call_command("audit_coupons", "--schema", schema)
    call_command("audit_ledger", "--schema", schema)
