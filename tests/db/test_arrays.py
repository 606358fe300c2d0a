"""Array literals (crm/db/arrays.py) read back by the real server exactly as the values sent."""

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.db.arrays import StatementParams, pg_array

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def read_back(values: Sequence[object], pg_type: str) -> list[object]:
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


def read_back_one(value: object, pg_type: str) -> object:
    """`value` as the only element of an array, written by StatementParams (`ARRAY[%s::type]`)."""
    params = StatementParams()
    sql = f"SELECT {params.array([value], pg_type)}"
    assert sql == f"SELECT ARRAY[%(p0)s::{pg_type}]"
    with connection.cursor() as cursor:
        cursor.execute(sql, params.values)
        (array,) = cursor.fetchone()
    assert len(array) == 1
    return array[0]


@pytest.mark.parametrize(
    ("value", "pg_type"),
    [
        ("NULL", "text"),
        ("", "text"),
        ("{a,b}", "text"),
        ('say "hi" \\ 制服', "text"),
        (None, "text"),
        (None, "bigint"),
        (10**15, "bigint"),
        (-7, "integer"),
        (True, "boolean"),
        (False, "boolean"),
        (dt.date(2026, 11, 23), "date"),
        (dt.datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=SHANGHAI), "timestamptz"),
    ],
)
def test_a_one_element_array_reads_back_as_sent(value: object, pg_type: str) -> None:
    assert read_back_one(value, pg_type) == value


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.text(st.characters(blacklist_characters="\x00", codec="utf-8")))
def test_any_text_round_trips_as_one_element(value: str) -> None:
    assert read_back_one(value, "text") == value


def test_one_element_is_checked_like_an_array() -> None:
    from members.models import Member

    assert read_back_one(Member.Lifecycle.PURCHASE, "text") == "purchase"
    with pytest.raises(ValueError, match="naive"):
        StatementParams().array([dt.datetime(2026, 11, 23, 9, 30)], "timestamptz")  # noqa: DTZ001 (on purpose)
    with pytest.raises(TypeError, match="float"):
        StatementParams().array([1.5], "numeric")


def test_placeholders_and_values_follow_the_sql() -> None:
    params = StatementParams()
    rows = params.unnest(([1, 2, 3], "bigint"), (["a", None, "c"], "text"))
    seven, none = params.value(7), params.array([], "bigint")
    sql = f"SELECT v.id, v.name, {seven} FROM {rows} AS v(id, name) WHERE v.id <> ALL({none})"  # noqa: S608
    assert params.values == {"p0": "{1,2,3}", "p1": '{"a",NULL,"c"}', "p2": 7, "p3": "{}"}
    assert sql.index("%(p2)s") < sql.index("%(p0)s")  # written before the rows, recorded after them
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY v.id", params.values)
        assert cursor.fetchall() == [(1, "a", 7), (2, None, 7), (3, "c", 7)]
