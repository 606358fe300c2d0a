"""Array parameters of set-based SQL, sent as PostgreSQL array literals.

The ingest and the jobs pass each column of a set as one array (`unnest(%s::bigint[], …)`,
`member_id = ANY(%s::bigint[])`). psycopg adapts a Python list element by element in Python —
finding a dumper for the element type, dumping, escaping and joining — which was about a seventh
of the CPU of a single-order API request (a dozen one-element arrays per order). `pg_array()`
builds the array's text form in one pass instead; psycopg sends it as a plain string, and the cast
that every call site writes (`%s::bigint[]`) makes PostgreSQL parse it with `array_in`, exactly
as it parses a literal. Without the cast PostgreSQL could not tell the array's type: always cast.

Elements: None (NULL), bool, int, str, datetime (timezone-aware only), date. Strings are always
double-quoted with backslash escapes, so no value — "NULL", "", "{a,b}", quotes, backslashes,
spaces — can change the array's shape (tests/db/test_arrays.py round-trips them through the server).

`StatementParams` writes the placeholders of a statement's parameters as it collects them, and
sends a one-element array as `ARRAY[%s::type]` instead. Why: psycopg prepares a statement once a
connection has run it five times, and PostgreSQL then chooses per execution between re-planning it
with the values (a custom plan) and one generic plan kept for every execution; it keeps the generic
plan only if that does not look costlier than the custom ones. A generic plan cannot see an array
parameter's length and assumes 10 elements, where a custom plan sees the one element of a single
order — so every statement of the single-order path that joins on an array looked ten times
dearer generic, and was re-planned on every request (the buyer statement: 0.9 ms of the server's
CPU, several times what running it cost). `ARRAY[%s::bigint]` has one element in both plans, so
PostgreSQL settles on the generic plan. Longer arrays keep the text form (one statement text for
any batch size), where a custom plan's cost is shared by the batch's rows.
"""

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any


def _text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _timestamp(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        # The server would read it in the session's zone: refuse rather than guess.
        raise ValueError(f"naive datetime in an array parameter: {value!r}")
    return '"' + value.isoformat() + '"'


# By exact type: a batch's columns are thousands of ints and strings, and one dict look-up per
# element is the cheapest dispatch (bool is looked up as bool, not as the int it subclasses).
_FORMATS: dict[type, Callable[[Any], str]] = {
    int: str,
    str: _text,
    bool: lambda value: "t" if value else "f",
    type(None): lambda value: "NULL",
    dt.datetime: _timestamp,
    dt.date: dt.date.isoformat,
}


def _element(value: object) -> str:
    format_ = _FORMATS.get(type(value))
    if format_ is None:
        # A subclass: a model's TextChoices / IntegerChoices member is a str / int.
        format_ = next((_FORMATS[cls] for cls in type(value).__mro__ if cls in _FORMATS), None)
        if format_ is None:
            raise TypeError(f"pg_array() does not send {type(value).__name__} values")
    return format_(value)


def pg_array(values: Iterable[object]) -> str:
    """The PostgreSQL text form of a one-dimensional array of `values`."""
    return "{" + ",".join([_element(value) for value in values]) + "}"


def _scalar(value: object) -> str | None:
    """One element on its own: the text PostgreSQL parses as the value (checked like an array's)."""
    element = _element(value)
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)  # as is: `_element` quoted it for the array syntax
    return element.strip('"')  # a timestamp's ISO form, quoted in an array


class StatementParams:
    """The parameters of one statement, named: each method records a value and returns the
    placeholder to write for it in the SQL, so the SQL can be assembled in any order.

        params = StatementParams()
        rows = params.unnest((ids, "bigint"), (points, "integer"))
        sql = f"UPDATE t SET p = v.p, at = {params.value(now)} FROM {rows} AS v(id, p) WHERE t.id = v.id"
        cursor.execute(sql, params.values)
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}  # cursor.execute() takes a Mapping[str, Any]

    def value(self, value: object) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s"

    def array(self, values: Iterable[object], sql_type: str) -> str:
        """An array of `sql_type`; one element goes as `ARRAY[%s::type]` (see the module's notes)."""
        items = list(values)
        if len(items) == 1:
            return f"ARRAY[{self.value(_scalar(items[0]))}::{sql_type}]"
        return f"{self.value(pg_array(items))}::{sql_type}[]"

    def unnest(self, *columns: tuple[Iterable[object], str]) -> str:
        """`unnest(…)` over equally long columns of (values, sql_type): a set of rows."""
        return "unnest(" + ", ".join(self.array(values, sql_type) for values, sql_type in columns) + ")"


__all__ = ["StatementParams", "pg_array"]
