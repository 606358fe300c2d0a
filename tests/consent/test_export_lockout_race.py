"""The data-copy mobile check under real concurrency: parallel guesses, each on its own database
connection, are counted one by one (they commit, so they run in a throw-away brand)."""

import pytest
from django_tenants.utils import schema_context

from consent.services import member_export_mobile_confirm
from crm.errors import AppError
from tests.factories import MemberFactory
from tests.members.loyalty_scene import throwaway_brand
from tests.members.test_ledger_concurrency import run_in_threads

race_brand = throwaway_brand


def test_parallel_guesses_are_counted_one_by_one(race_brand):
    """Eight wrong answers at the same moment: five are counted as wrong and the other three
    already meet the lockout — a burst cannot share one count."""
    with schema_context(race_brand.schema_name):
        member = MemberFactory(mobile="+8613800000001")

    errors = run_in_threads(
        race_brand,
        [(lambda i=i: member_export_mobile_confirm(member_id=member.pk, mobile=f"1390000000{i}")) for i in range(8)],
    )

    codes = sorted(error.code for error in errors if isinstance(error, AppError))
    assert codes == ["export_locked"] * 3 + ["export_mobile_wrong"] * 5
    with schema_context(race_brand.schema_name), pytest.raises(AppError) as locked:
        member_export_mobile_confirm(member_id=member.pk, mobile=member.mobile)
    assert locked.value.code == "export_locked"
