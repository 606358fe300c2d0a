"""Whether the current brand's schema has a SQL function a fast path calls.

The one-statement fast paths (engagement_checkin(), scancodes_claim_fast()) and the order ingest's
attribution rider (performance_decide_given_owner(), members.hooks `needs`) call PL/pgSQL functions
created by a migration in each brand schema. During a deploy the new code serves brands whose
migration has not run yet (`migrate_brands` goes brand by brand): calling a function that is not
there would fail the request, and inside a transaction nothing could be tried after it. The fast
paths ask here first and take their ORM path when the function is missing.

A function found is remembered by the process for good (a migration never drops these while the
code calls them); a function missing is asked again after ABSENT_RECHECK_SECONDS, so a brand's
fast path starts within that long of its migration. The question is one catalogue read per
process, brand and function.
"""

import time

from crm.memos import process_memo

from . import connection

ABSENT_RECHECK_SECONDS = 30.0

# (database, schema, function) -> True when present, else the monotonic time to ask again
_present: dict[tuple[str, str, str], bool | float] = process_memo("SQL functions present per brand")


def sql_function_present(name: str) -> bool:
    key = (connection.settings_dict["NAME"], connection.schema_name, name)
    known = _present.get(key)
    if known is True:
        return True
    if known is not None and known > time.monotonic():
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = %s"
            " AND pronamespace = current_schema()::regnamespace)",
            [name],
        )
        found = bool(cursor.fetchone()[0])
    _present[key] = True if found else time.monotonic() + ABSENT_RECHECK_SECONDS
    return found
