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
from collections.abc import Iterable


def _element(value: object) -> str:
    if value is None:
        return "NULL"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            # The server would read it in the session's zone: refuse rather than guess.
            raise ValueError(f"naive datetime in an array parameter: {value!r}")
        return '"' + value.isoformat() + '"'
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"pg_array() does not send {type(value).__name__} values")


def pg_array(values: Iterable[object]) -> str:
    """The PostgreSQL text form of a one-dimensional array of `values`."""
    return "{" + ",".join(map(_element, values)) + "}"


__all__ = ["pg_array"]
