"""Array literals (crm/pg_arrays.py) read back by the real server exactly as the values sent."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.pg_arrays import pg_array

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def read_back(values: list[object], pg_type: str) -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{pg_type}[]", [pg_array(values)])
        return cursor.fetchone()[0]


def test_strings_that_look_like_syntax_stay_strings() -> None:
    tricky = ["NULL", "null", "", " padded ", "{a,b}", 'say "hi"', "back\\slash", "a,b", "制服\t新款", '\\"', None]
    assert read_back(tricky, "text") == tricky


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(st.characters(blacklist_characters="\x00", codec="utf-8")))))
def test_any_text_round_trips(values: list[str | None]) -> None:
    assert read_back(values, "text") == values


def test_numbers_booleans_dates_and_nulls() -> None:
    assert read_back([1, -2, 10**15, None], "bigint") == [1, -2, 10**15, None]
    assert read_back([True, False, None], "boolean") == [True, False, None]
    assert read_back([dt.date(2026, 11, 23), None], "date") == [dt.date(2026, 11, 23), None]
    assert read_back([], "integer") == []


def test_choices_members_are_sent_as_their_values() -> None:
    from members.models import Member, PointsEntry

    assert read_back([Member.Lifecycle.PURCHASE, PointsEntry.Kind.EARN], "text") == ["purchase", "earn"]
    assert read_back([True, 7], "text") == ["t", "7"]  # bool is not sent as the int it subclasses


def test_aware_datetimes_keep_their_instant() -> None:
    moments = [dt.datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=SHANGHAI), dt.datetime(2000, 1, 1, tzinfo=dt.UTC)]
    assert read_back([*moments, None], "timestamptz") == [*moments, None]


def test_naive_datetimes_and_unknown_types_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        pg_array([dt.datetime(2026, 11, 23, 9, 30)])  # noqa: DTZ001 (naive on purpose)
    with pytest.raises(TypeError, match="float"):
        pg_array([1.5])
