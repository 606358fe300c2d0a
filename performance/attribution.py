"""The attribution of an order, as SQL: one statement decides the credit of any number of orders.

The same SELECT serves three callers:
- the order ingest's rider (members/hooks.py) for a batch: `o` is the orders the ingest just
  inserted, the rule is the newest version — set-based, in the orders' transaction;
- the what-if preview: `o` is last month's orders, the rule is the one being edited (nothing
  written);
- the tests, which check the rider against the preview of the rule in force.
One order (order_post) is decided by a function of its own, performance_decide_one_given_owner,
from the same SQL fragments: one small query per look-up, as far as the rule's precedence needs.

For each order, in the rule's precedence, the first candidate that exists wins:
- serving: the staff member on a store order (store_id and staff_id set);
- exclusive: the member's 专属导购 at the moment the order was paid, read from the assignment
  history (the newest change at or before paid_at; before the first change, its from_staff; no
  history at all: the current owner). A transferred member credits the new owner from the
  moment of the transfer on, never before. The ingest knows it without the history for an order
  paid at or after the member's newest owner change (members_member.owner_changed_at / _to, the
  history's newest row), which is nearly every one;
- touch: the member's newest touch at or before paid_at whose kind has a window in the rule and is
  younger than that window.
A candidate who had resigned when the order was paid is skipped. An order bought by a staff member
(their mobile or unionid, as the order's buyer or among the member's identities) credits nobody
(员工内购不计业绩): it is kept with `own_purchase_staff`, credited 0.
"""

# SQL built from model meta and fixed names only; every value is a parameter or a column.
# ruff: noqa: S608

import functools

from members.models import Identity, Member, MemberAssignment, Staff

from .models import Attribution, AttributionRule, StaffIdentity, Touch, TouchKind

_ATTR = Attribution._meta.db_table
_RULE = AttributionRule._meta.db_table
_TOUCH = Touch._meta.db_table
_STAFF_ID = StaffIdentity._meta.db_table
_STAFF = Staff._meta.db_table
_ASSIGN = MemberAssignment._meta.db_table
_MEMBER = Member._meta.db_table
_IDENTITY = Identity._meta.db_table

RIDER_NAME = "performance_attribution"
TOUCH_RIDER_NAME = "performance_served_touch"
CURRENT_RULE = f"(SELECT id, precedence, windows FROM {_RULE} ORDER BY id DESC LIMIT 1)"

# {orders}: a relation with members_order's columns; {rule}: one row (id, precedence text[], windows jsonb).
#
# The candidates are tried lazily, in the rule's order: one slot per place in the precedence, each
# a UNION ALL of the three bases gated by `r.precedence[i] = basis` (only the matching branch runs),
# under LIMIT 1 — an Append stops at its first row, so a store order credited to its serving staff
# never looks up a touch, and a touch found first never looks further. The look-ups read their index in the order
# they want (touches: (member, touched_at DESC, id DESC) from the order's time back to the longest
# window; the assignment history: (member, created_at DESC, id DESC)), so each stops at its first
# row instead of reading and sorting a member's whole history. Each branch checks its staff
# member's resignation itself, so a resigned candidate yields no row and the next slot is tried.
# The own-purchase probe runs only when the brand registered any staff identity (an InitPlan,
# once per statement).
# Each base is written once, for the set query and for the one-order function: {o} is how the order's
# columns are read ("o." in the set query, "p_" the one-order function's parameters), {r} the rule's
# ("r." / "v_" its variables), {ex} the owner at payment time, {gate} the conditions the set query
# needs in the query itself (the precedence place, what the base needs of the order) and the
# one-order function checks in PL/pgSQL before it runs the query (so its plan has no gating node),
# {into} where the one-order function reads the row into its variables.
_SERVING = """SELECT 'serving'::text AS basis, {o}staff_id AS staff_id, NULL::bigint AS touch_id,
               ''::text AS touch_kind, NULL::integer AS window_days, COALESCE({o}store_id, s.store_id) AS store_id{into}
        FROM {staff} s
        WHERE {gate}s.id = {o}staff_id
          AND (s.resigned_at IS NULL OR s.resigned_at > {o}paid_at)"""
_EXCLUSIVE = """SELECT 'exclusive'::text, {ex}, NULL::bigint, ''::text, NULL::integer,
               COALESCE(s.store_id, {o}store_id){into}
        FROM {staff} s
        WHERE {gate}s.id = {ex}
          AND (s.resigned_at IS NULL OR s.resigned_at > {o}paid_at)"""
_TOUCH_PICK = """SELECT 'touch'::text, t.staff_id, t.id, t.kind::text, ({r}windows ->> t.kind)::integer,
                COALESCE(ts.store_id, {o}store_id){into}
         FROM {touch} t JOIN {staff} ts ON ts.id = t.staff_id
         WHERE {gate}t.member_id = {o}member_id{unserved}
           AND t.touched_at <= {o}paid_at AND t.touched_at > {o}paid_at - {r}reach
           AND t.touched_at > {o}paid_at - make_interval(days => COALESCE(({r}windows ->> t.kind)::integer, 0))
           {own_served}
           AND (ts.resigned_at IS NULL OR ts.resigned_at > {o}paid_at)
         ORDER BY t.touched_at DESC, t.id DESC LIMIT 1"""
# What a base's branch of the set query needs of the order, after its precedence place: serving a
# store order (its staff member is the probe's key), a touch a member's order (the exclusive base
# needs an owner, the probe's key). The one-order function checks as much in PL/pgSQL before it
# runs a base's query (the IFs of ONE_FUNCTION_BODY).
_SET_NEEDS = {"serving": "o.store_id IS NOT NULL AND ", "exclusive": "", "touch": "o.member_id IS NOT NULL AND "}
_BASES = {"serving": _SERVING, "exclusive": _EXCLUSIVE, "touch": _TOUCH_PICK}
# The brand's usual rule (the default of migration 0002): the function runs a plan made for it.
USUAL_PRECEDENCE = ("serving", "touch", "exclusive")


# An order's own served touch (key order:<id>) is the serving basis, not a touch. A stored order's
# (the what-if preview) is told by its key. The ingest's decision can see its orders' served
# touches too: the function is VOLATILE, so its queries take a fresh snapshot after a command-counter
# increment, and PostgreSQL finishes the served-touch rider (the later data-modifying CTE) first —
# which is also how a store order's served touch can credit an online order later in the same
# batch, as it would posted alone. There the own one is told by columns of the look-up's index
# (kind, staff, time: the served touch is the order's serving staff at its payment time), so every
# touch the look-up reads is answered from the index alone, without a visit to the heap row.
_OWN_SERVED = "AND t.key <> 'order:' || o.id  -- the order's own serving is the serving basis, not a touch"
_OWN_SERVED_BY_INDEX = """AND NOT (t.kind = 'served' AND {o}store_id IS NOT NULL AND t.staff_id = {o}staff_id
                    AND t.touched_at = {o}paid_at)  -- the order's own serving is the serving basis"""
# A rule without a `served` window lets no served touch credit (its window is 0 days), yet the
# look-up read every served touch of the member within the longest window — from the heap, too,
# when it was younger than the table's last vacuum (an index-only scan checks visibility before
# its filter): a member's store orders are most of their touches. Said in the query, the look-up
# reads the partial index without them (perf_touch_member_unserved, migration 0013).
_UNSERVED = "\n           AND t.kind <> 'served'  -- the rule has no served window: served touches cannot credit"


def _set_base(basis: str, i: int | str, *, stored: bool, unserved: bool) -> str:
    """`basis` as a branch of the set query, in place `i` of the precedence (gated by it)."""
    sql = _BASES[basis].format(
        o="o.",
        r="r.",
        ex="ex.staff_id",
        gate=f"r.precedence[{i}] = '{basis}' AND {_SET_NEEDS[basis]}",
        into="",
        staff=_STAFF,
        touch=_TOUCH,
        own_served=_OWN_SERVED if stored else _OWN_SERVED_BY_INDEX.format(o="o."),
        unserved=_UNSERVED if unserved else "",
    )
    return f"({sql})" if basis == "touch" else sql  # its own ORDER BY and LIMIT within the UNION ALL


def _slots(precedence: tuple[str, ...] | None, *, stored: bool, unserved: bool = False) -> str:
    """Every base in every place (any rule), or one base per place (the rule is known to be `precedence`)."""
    parts = (
        [_set_base(basis, i, stored=stored, unserved=unserved) for i in (1, 2, 3) for basis in _BASES]
        if precedence is None
        else [_set_base(basis, i, stored=stored, unserved=unserved) for i, basis in enumerate(precedence, 1)]
    )
    return "\n        UNION ALL\n        ".join(parts)


# The staff member who bought the order, if any (their mobile or unionid: the buyer's, or one of the
# member's identities). {o} as in the bases; {guard}: the set query asks for the probe only when the
# brand registered a staff identity (an InitPlan), the one-order function checks that before.
_OWN_PROBES = f"""(SELECT si.staff_id FROM {_STAFF_ID} si
     WHERE {{guard}}si.kind = {{o}}buyer_kind AND si.value = {{o}}buyer_value)
    UNION ALL
    (SELECT si.staff_id FROM {_IDENTITY} i JOIN {_STAFF_ID} si ON si.kind = i.kind AND si.value = i.value
     WHERE {{guard}}i.member_id = {{o}}member_id)
    LIMIT 1"""
_OWN = f"""LEFT JOIN LATERAL (
    {_OWN_PROBES.format(o="o.", guard=f"EXISTS (SELECT FROM {_STAFF_ID}) AND ")}
) own ON true"""
_NO_OWN = "CROSS JOIN (SELECT NULL::bigint AS staff_id) own  -- the brand registered no staff identity"

# The member's owner when the order was paid (exclusive staff), for member orders; {o} as in the bases.
_OWNER = """(COALESCE(
        (SELECT ARRAY[a.to_staff_id] FROM {assign} a
         WHERE a.member_id = {o}member_id AND a.created_at <= {o}paid_at ORDER BY a.created_at DESC, a.id DESC LIMIT 1),
        (SELECT ARRAY[a.from_staff_id] FROM {assign} a
         WHERE a.member_id = {o}member_id AND a.created_at > {o}paid_at ORDER BY a.created_at, a.id LIMIT 1),
        (SELECT ARRAY[m.assigned_staff_id] FROM {member} m WHERE m.id = {o}member_id)
    ))[1]"""


def _owner(o: str) -> str:
    return _OWNER.format(o=o, assign=_ASSIGN, member=_MEMBER)


# The owner as the order ingest knows it from the member row it locked (members 0021: the newest
# owner change's to_staff and time, or with no history assigned_staff): `owner_known` when the order
# was paid at or after that change, `owner_id` then the owner. Only a late-posted order, paid
# before that change, asks the history. The what-if preview reads stored orders, and always asks
# the history.
_GIVEN = (("owner_id", "bigint"), ("owner_known", "boolean"))


def _given_owner(o: str) -> str:
    return f"CASE WHEN {o}owner_known THEN {o}owner_id ELSE {_owner(o)} END"


_EX = """LEFT JOIN LATERAL (
    -- COALESCE evaluates its subqueries lazily: a live order's member usually answers at the first.
    -- Arrays, so that an unassignment (to_staff NULL) still ends the search.
    SELECT {owner} AS staff_id
) ex ON o.member_id IS NOT NULL"""

_DECIDE = """
SELECT o.id AS order_id, o.paid_at, o.member_id, o.amount_fen, o.created_at, r.id AS rule_id,
       own.staff_id AS own_staff_id, ex.staff_id AS exclusive_staff_id,
       pick.basis, pick.staff_id, pick.store_id, pick.touch_id, pick.touch_kind, pick.window_days
FROM {orders} o
CROSS JOIN (
    -- reach: the longest window; no touch older than that can credit (the index range's lower end)
    SELECT rr.id, rr.precedence, rr.windows, {reach} AS reach
    FROM {rule} rr
) r
{own}
{ex}
LEFT JOIN LATERAL (
    SELECT * FROM (
        {slots}
    ) c (basis, staff_id, touch_id, touch_kind, window_days, store_id)
    LIMIT 1
) pick ON true
"""


# The rule's longest window, from its row `rr`. Put in the query, PostgreSQL evaluates it once per
# order that looks up a touch (an InitPlan under the lateral join: jsonb_each_text and an
# aggregate each time); the function computes it once and passes it in.
_REACH = """make_interval(days => (SELECT COALESCE(max(w.days::integer), 0)
                                  FROM jsonb_each_text(rr.windows) w (kind, days)))"""


# The same, as one expression over the kinds a touch can have (no aggregate, no sub-plan): for the
# function's rule read, which every order pays — the aggregate's set-up and run were ≈ 12 µs of a
# single order's decision (bench/README.md, session 18). Equal to _REACH for every touch: a window
# of a kind no touch has (rule_validate admits none) cannot credit anything. A new TouchKind changes
# this text, and tests/performance then asks for a migration with it.
_REACH_OF_KINDS = (
    "make_interval(days => COALESCE(GREATEST("
    + ", ".join(f"(rr.windows ->> '{kind}')::integer" for kind in TouchKind.values)
    + "), 0))"
)


def decide_sql(
    *,
    orders: str,
    rule: str,
    precedence: tuple[str, ...] | None = None,
    own: bool = True,
    reach: str = _REACH,
    stored: bool = True,
    unserved: bool = False,
    owner_given: bool = False,
) -> str:
    """The decision over `orders` by `rule`; `precedence` and `own=False` only when the caller knows
    the rule's precedence is that and that the brand has no staff identity (smaller plans); `reach`
    an expression of the rule's longest window when the caller has it computed; `stored=False`
    when the orders are being inserted by the statement that decides (no key to tell their own
    served touches by: the index's columns do); `unserved` when the caller knows the rule has no
    `served` window; `owner_given` when `orders` also has the columns of _GIVEN (the ingest's)."""
    return _DECIDE.format(
        orders=orders,
        rule=rule,
        slots=_slots(precedence, stored=stored, unserved=unserved),
        own=_OWN if own else _NO_OWN,
        ex=_EX.format(owner=_given_owner("o.") if owner_given else _owner("o.")),
        reach=reach,
    )


# The decision for the orders of one ingest, as a function of their columns. A function because of
# planning: inlined in the order INSERT, the decision made PostgreSQL plan that statement afresh for
# every order (its generic plan, costed for 100 orders of unknown arrays, always lost to a custom
# one: ~1.5 ms of planning per order). PL/pgSQL keeps the plan of its query per connection, and
# force_generic_plan keeps it from re-planning; ROWS 1 keeps the caller's own plan cheap. The
# migrations create it with this exact text (tests/performance checks they agree).
#
# Since performance 0015 the ingest also gives each order's owner as it knows it (_GIVEN), and the
# functions that take it are new ones: performance_decide (0013, the orders' columns only) and
# performance_decide_one (0014) stay for the previous release's riders during a deploy, and for a
# brand whose 0015 has not run yet (ATTRIBUTION_RIDER_PREVIOUS_SQL); docs/deploy.md says when they
# can go (once every brand has 0015).
_INPUT = (
    ("id", "bigint"),
    ("paid_at", "timestamptz"),
    ("member_id", "bigint"),
    ("staff_id", "bigint"),
    ("store_id", "bigint"),
    ("amount_fen", "bigint"),
    ("buyer_kind", "text"),
    ("buyer_value", "text"),
    ("created_at", "timestamptz"),
)
_OUTPUT = (
    ("order_id", "bigint"),
    ("paid_at", "timestamptz"),
    ("member_id", "bigint"),
    ("amount_fen", "bigint"),
    ("created_at", "timestamptz"),
    ("rule_id", "bigint"),
    ("own_staff_id", "bigint"),
    ("exclusive_staff_id", "bigint"),
    ("basis", "text"),
    ("staff_id", "bigint"),
    ("store_id", "bigint"),
    ("touch_id", "bigint"),
    ("touch_kind", "text"),
    ("window_days", "integer"),
)
PREVIOUS_FUNCTION_NAME = "performance_decide"
FUNCTION_NAME = "performance_decide_given_owner"
_PARAMS = (*_INPUT, *_GIVEN)
_UNNEST = (
    f"(SELECT * FROM unnest({', '.join(f'p_{name}' for name, _ in _PARAMS)}) "
    f"AS u({', '.join(name for name, _ in _PARAMS)}))"
)
_RULE_READ = f"(SELECT id, precedence, windows FROM {_RULE} WHERE id = v_rule_id)"
_RETURN = f"RETURN QUERY SELECT {', '.join(f'd.{name}::{kind}' for name, kind in _OUTPUT)}\nFROM ({{}}) d;"
# The rule in force is read once; a brand on the usual rule without staff identities (most) runs the
# plan made for exactly that: three candidate slots instead of nine, no own-purchase probe — a plan
# a third smaller, whose start-up was most of a single order's decision (bench/README.md, session
# 15). Both read the rule by that id, so a rule saved meanwhile cannot mix with the branch chosen.
# The function's set queries: its orders (with the owner the ingest gives), the rule read by id.
_in_function = functools.partial(
    decide_sql, orders=_UNNEST, rule=_RULE_READ, reach="v_reach", stored=False, owner_given=True
)
_USUAL_SQL = _in_function(precedence=USUAL_PRECEDENCE, own=False)
# The default rule has no `served` window (migration 0002): its own plan reads the touches without
# the served ones.
_USUAL_UNSERVED_SQL = _in_function(precedence=USUAL_PRECEDENCE, own=False, unserved=True)
_GENERAL_SQL = _in_function()
# The rule in force, read once a call into the functions' variables.
_RULE_DECLARE = """v_rule_id bigint;
    v_precedence text[];
    v_windows jsonb;
    v_staff_identities boolean;
    v_reach interval;
    v_unserved boolean;"""
_RULE_INTO = f"""SELECT rr.id, rr.precedence::text[], rr.windows, EXISTS (SELECT FROM {_STAFF_ID}), {_REACH_OF_KINDS},
       NOT (rr.windows ? 'served')
INTO v_rule_id, v_precedence, v_windows, v_staff_identities, v_reach, v_unserved
FROM {_RULE} rr ORDER BY rr.id DESC LIMIT 1;"""
# A batch of one goes to performance_decide_one_given_owner (the rider's one_order_sql): this
# function has no one-order branch.
FUNCTION_BODY = f"""
#variable_conflict use_column
DECLARE
    {_RULE_DECLARE}
BEGIN
{_RULE_INTO}
IF v_precedence = ARRAY{list(USUAL_PRECEDENCE)}::text[] AND NOT v_staff_identities AND v_unserved THEN
{_RETURN.format(_USUAL_UNSERVED_SQL)}
ELSIF v_precedence = ARRAY{list(USUAL_PRECEDENCE)}::text[] AND NOT v_staff_identities THEN
{_RETURN.format(_USUAL_SQL)}
ELSE
{_RETURN.format(_GENERAL_SQL)}
END IF;
END
"""


def _create_function(name: str, params: str, tail: str, body: str) -> str:
    return f"CREATE OR REPLACE FUNCTION {name}({params}){tail} AS $fn${body}$fn$"


FUNCTION_SQL = _create_function(
    FUNCTION_NAME,
    ", ".join(f"p_{name} {kind}[]" for name, kind in _PARAMS),
    " RETURNS TABLE ("
    + ", ".join(f"{name} {kind}" for name, kind in _OUTPUT)
    + ") LANGUAGE plpgsql VOLATILE ROWS 1 SET plan_cache_mode = force_generic_plan",
    FUNCTION_BODY,
)


# One order (`order_post`, and a batch of one; performance_decide_one since 0014, with the owner
# given since 0015): a function of the order's values rather than of arrays of them, that decides as
# the set query does with the same bases — each read with the function's parameters and variables,
# its conditions on the order checked in PL/pgSQL first — one small query per candidate, only as far
# as the precedence needs. Its plans have no array subscripts, no one-row subqueries and no gating
# nodes to start up (0012's one-order branch of performance_decide had them all), and it returns its
# one row without a tuplestore of its own (not a set-returning function). STABLE: its queries read
# the statement's snapshot, so it does not see the served touch the same statement writes for the
# order (the set query, VOLATILE, sees it and tells it apart; a batch needs that for a later order
# of the same member); with one order there is nothing else in the statement to see. No
# `SET plan_cache_mode` clause: PostgreSQL 15 undoes a function's setting by walking every setting
# (≈ 20 µs a call in place, session 19), and the plan cache settles on generic plans for these small
# queries after its first five calls anyway.
PREVIOUS_ONE_FUNCTION_NAME = "performance_decide_one"
ONE_FUNCTION_NAME = "performance_decide_one_given_owner"
_ONE_INTO = "\n        INTO basis, staff_id, touch_id, touch_kind, window_days, store_id"


def _one_base(basis: str, *, unserved: bool = False) -> str:
    return _BASES[basis].format(
        o="p_",
        r="v_",
        ex="v_owner",
        gate="",
        into=_ONE_INTO,
        staff=_STAFF,
        touch=_TOUCH,
        own_served=_OWN_SERVED_BY_INDEX.format(o="p_"),
        unserved=_UNSERVED if unserved else "",
    )


# The owner at payment time as the ingest gives it; only for a late-posted member order (paid
# before the owner's last change) from the history, in a query of its own. Not a CASE on
# p_owner_known in the rule's query (session 20's first try): the plan cache then made a custom
# plan for every call, the branch folded away, and planned the query afresh each time — twice
# the function's time (bench/README.md, session 20). The rule's query has no parameters.
_ONE_OWNER = f"""IF p_owner_known THEN
    v_owner := p_owner_id;
ELSIF p_member_id IS NOT NULL THEN
    v_owner := {_owner("p_")};
END IF;"""
ONE_FUNCTION_BODY = f"""
#variable_conflict use_column
DECLARE
    {_RULE_DECLARE}
    v_owner bigint;
    v_i integer;
BEGIN
{_RULE_INTO}
{_ONE_OWNER}
exclusive_staff_id := v_owner;
order_id := p_id; paid_at := p_paid_at; member_id := p_member_id;
amount_fen := p_amount_fen; created_at := p_created_at; rule_id := v_rule_id;
IF v_staff_identities THEN
    SELECT x.staff_id INTO own_staff_id FROM (
    {_OWN_PROBES.format(o="p_", guard="")}
    ) x;
END IF;
FOR v_i IN 1..3 LOOP
    IF v_precedence[v_i] = 'serving' THEN
        IF p_store_id IS NOT NULL AND p_staff_id IS NOT NULL THEN
        {_one_base("serving")};
        EXIT WHEN FOUND;
        END IF;
    ELSIF v_precedence[v_i] = 'touch' THEN
        IF p_member_id IS NOT NULL AND v_unserved THEN
        {_one_base("touch", unserved=True)};
        EXIT WHEN FOUND;
        ELSIF p_member_id IS NOT NULL THEN
        {_one_base("touch")};
        EXIT WHEN FOUND;
        END IF;
    ELSIF v_precedence[v_i] = 'exclusive' THEN
        IF v_owner IS NOT NULL THEN
        {_one_base("exclusive")};
        EXIT WHEN FOUND;
        END IF;
    END IF;
END LOOP;
END
"""
ONE_FUNCTION_SQL = _create_function(
    ONE_FUNCTION_NAME,
    ", ".join([*(f"p_{name} {kind}" for name, kind in _PARAMS), *(f"OUT {name} {kind}" for name, kind in _OUTPUT)]),
    " LANGUAGE plpgsql STABLE",
    ONE_FUNCTION_BODY,
)

# The rider (members/hooks.py): read `o`, write one row per new order that credits someone or was
# bought by a staff member. The primary key is the order: nothing can add a second row.
_ATTRIBUTION_INSERT = f"""
INSERT INTO {_ATTR} (order_id, paid_at, member_id, staff_id, store_id, basis, touch_id, touch_kind, window_days,
    is_exclusive, own_purchase_staff_id, rule_id, credited_fen, refunded_fen, created_at)
SELECT d.order_id, d.paid_at, d.member_id,
       CASE WHEN d.own_staff_id IS NULL THEN d.staff_id END,
       CASE WHEN d.own_staff_id IS NULL THEN d.store_id END,
       CASE WHEN d.own_staff_id IS NULL THEN COALESCE(d.basis, '') ELSE '' END,
       CASE WHEN d.own_staff_id IS NULL THEN d.touch_id END,
       CASE WHEN d.own_staff_id IS NULL THEN COALESCE(d.touch_kind, '') ELSE '' END,
       CASE WHEN d.own_staff_id IS NULL THEN d.window_days END,
       d.own_staff_id IS NULL AND d.staff_id IS NOT NULL AND d.staff_id IS NOT DISTINCT FROM d.exclusive_staff_id,
       d.own_staff_id, d.rule_id,
       CASE WHEN d.own_staff_id IS NULL THEN d.amount_fen ELSE 0 END, 0, d.created_at"""
# The owner of each order's member as the ingest locked the member row: the ingest's `owners`
# relation (members/hooks.py), matched by member. Every member order's member is in it.
_OWNERS_JOIN = "o LEFT JOIN owners w ON w.member_id = o.member_id"
_OWNER_KNOWN = "w.member_id IS NOT NULL AND (w.changed_at IS NULL OR w.changed_at <= o.paid_at)"
_GIVEN_FROM_OWNERS = {"owner_id": "w.staff_id", "owner_known": _OWNER_KNOWN}
ATTRIBUTION_RIDER_SQL = f"""{_ATTRIBUTION_INSERT}
FROM (SELECT {", ".join(f"array_agg(o.{name}) AS a_{name}" for name, _ in _INPUT)},
             {", ".join(f"array_agg({value}) AS a_{name}" for name, value in _GIVEN_FROM_OWNERS.items())}
      FROM {_OWNERS_JOIN}) x
CROSS JOIN LATERAL {FUNCTION_NAME}({", ".join(f"x.a_{name}" for name, _ in _PARAMS)}) d
WHERE d.own_staff_id IS NOT NULL OR d.staff_id IS NOT NULL
"""

# One order (order_post): the one-order function over the order's own values, without aggregating
# `o` into arrays (the aggregate's transition states were set up for every order: bench/README.md,
# session 18). It decides as the set function does.
_ONE_ARGS = [*(f"o.{name}" for name, _ in _INPUT), *_GIVEN_FROM_OWNERS.values()]
ATTRIBUTION_RIDER_ONE_SQL = f"""{_ATTRIBUTION_INSERT}
FROM {_OWNERS_JOIN}
CROSS JOIN LATERAL {ONE_FUNCTION_NAME}({", ".join(_ONE_ARGS)}) d
WHERE d.own_staff_id IS NOT NULL OR d.staff_id IS NOT NULL
"""

# Until a brand has performance 0015 (a deploy, a brand whose migration failed and waits for its
# retry), its orders, one or many, are decided as the release before decided a batch: by
# performance_decide over the orders' columns, the owner read from the history. Goes with
# performance_decide, once every brand has 0015 (docs/deploy.md).
ATTRIBUTION_RIDER_PREVIOUS_SQL = f"""{_ATTRIBUTION_INSERT}
FROM (SELECT {", ".join(f"array_agg({name}) AS a_{name}" for name, _ in _INPUT)} FROM o) x
CROSS JOIN LATERAL {PREVIOUS_FUNCTION_NAME}({", ".join(f"x.a_{name}" for name, _ in _INPUT)}) d
WHERE d.own_staff_id IS NOT NULL OR d.staff_id IS NOT NULL
"""

# The serving staff of a member's store order is a touch too (it may credit a later online order
# within the rule's `served` window). Keyed by the order; `o` holds only the orders this statement
# created, so a replay adds nothing — without ON CONFLICT, a probe per store order that could never
# conflict. (Its entry in the key's unique index stays this release: models.Touch.) It writes only
# for orders with these three set, so the ingest leaves it out of a call that posts none (online
# orders, tourists: most single orders), where its CTE only opened and locked the touch table and
# its four indexes.
SERVED_TOUCH_RIDER_ONLY_WITH = ("staff_id", "store_id", "member_id")
SERVED_TOUCH_RIDER_SQL = f"""
INSERT INTO {_TOUCH} (staff_id, member_id, kind, touched_at, source, key, created_at)
SELECT o.staff_id, o.member_id, 'served', o.paid_at, o.order_no, 'order:' || o.id, o.created_at
FROM o WHERE o.staff_id IS NOT NULL AND o.store_id IS NOT NULL AND o.member_id IS NOT NULL
"""
