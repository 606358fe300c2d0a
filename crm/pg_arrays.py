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
spaces — can change the array's shape (tests/test_pg_arrays.py round-trips them through the server).
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


__all__ = ["pg_array"]
