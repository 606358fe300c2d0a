"""The common claim in one statement: `scancodes_claim_fast`, a PL/pgSQL function (created by
scancodes/migrations/0004_claim_fast.py; FUNCTION_SQL is its text as of that migration).

The common case is a signed-in, active member claiming an activated code of a points campaign
(points > 0), with no fraud flag (not pending), no diversion alert, no owner to assign and caps
and budget not reached. scancodes/services.py decides from what it has already read whether a
claim is such a case; if it is, this function does in the database, in the claim's lock order
(services.py's docstring), what the ORM path does statement by statement:

  1. the code's conditional UPDATE (first claimant wins; the scan counted and, on the first scan,
     its time and city);
  2. the member's daily / monthly claim counters (conditional upserts);
  3. the campaign's budget (conditional UPDATE), when it has one;
  4. the claim row (granted);
  5. the points, as members/services/points.py's points_award_bonus → _credit writes them: the
     member row locked FOR NO KEY UPDATE (members' lock step 1), refused when merged or erased,
     the bonus entry (reference `scan:<serial>`, balance_after = ledger total + points), the debt
     paid first, a lot of the rest (available now, expiring per the brand's loyalty programme),
     the member's balance and debt;
  6. the tags, as members/services/members.py's member_tags_add (_TAGS_ADD) writes them;
  7. the scan log row (claimed).

Whenever anything departs from the common case — the code already claimed (nothing was written
yet), a cap or the budget reached, the member merged or erased since it was read, no loyalty
programme row yet, a bonus entry already there — it answers `slow` having written nothing (its
writes after the code's UPDATE sit in a block with an exception handler, i.e. a subtransaction
that is rolled back), and the caller runs the ORM path, which gives the refusal or does the rare
case its own way. The hooks the ORM services tell (loyalty changed → webhooks; tags changed →
WeCom) are told by the caller from what this function returns (balances before and after, tags
added).

tests/scancodes/test_claim_fast.py proves the rows are those the ORM path writes for the same scene
and pins the statement count of the common case.
"""

# The function's text names the brand's tables unqualified: it is created in every brand schema
# and runs under the brand's search_path.

FUNCTION_NAME = "scancodes_claim_fast"

# The function's parameters in order (FUNCTION_SQL names them).
ARG_TYPES = (
    *("bigint", "bigint", "timestamptz", "date", "boolean", "text", "bigint", "bigint", "bigint", "bigint"),
    *("text", "integer", "integer", "integer", "boolean", "text", "text", "inet", "text", "text", "text"),
    *("text[]", "text", "boolean", "numeric", "numeric", "text"),
)

# One statement: the parameters typed, so that any binding (client- or server-side) resolves them.
CALL_SQL = f"SELECT * FROM {FUNCTION_NAME}({', '.join(f'%s::{kind}' for kind in ARG_TYPES)})"  # noqa: S608 - constants

FUNCTION_SQL = r"""CREATE OR REPLACE FUNCTION scancodes_claim_fast(
    p_serial bigint, p_member_id bigint, p_now timestamptz, p_biz_date date, p_count_scan boolean,
    p_label text, p_batch_id bigint, p_segment_id bigint, p_campaign_id bigint, p_dealer_id bigint,
    p_sku text, p_units integer, p_cap_day integer, p_cap_month integer, p_budgeted boolean,
    p_province text, p_city text, p_ip inet, p_device text, p_reason text, p_tz text,
    p_tag_names text[], p_tag_group text, p_precise boolean, p_latitude numeric, p_longitude numeric,
    p_channel text)
RETURNS TABLE (outcome text, claim_id bigint, balance_before integer, pending_before integer,
    debt_before integer, balance_after integer, pending_after integer, debt_after integer,
    tier_id bigint, tags_added bigint[])
LANGUAGE plpgsql VOLATILE ROWS 1 SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
DECLARE
    v_claim bigint;
    v_entry bigint;
    v_balance integer;
    v_pending integer;
    v_debt integer;
    v_tier bigint;
    v_status text;
    v_merged bigint;
    v_expiry text;
    v_expiry_days integer;
    v_expires timestamptz;
    v_debt_paid integer;
    v_net integer;
    v_added bigint[] := '{}';
    v_rows integer;
    v_links bigint[];
    v_attempt integer;
BEGIN
    BEGIN
        -- 1. the code: the first claimant wins.
        UPDATE scancodes_code SET claimed_member_id = p_member_id, claimed_at = p_now,
            scan_count = scan_count + CASE WHEN p_count_scan THEN 1 ELSE 0 END,
            first_city = CASE WHEN p_count_scan AND first_scanned_at IS NULL THEN p_label ELSE first_city END,
            first_scanned_at = CASE WHEN p_count_scan THEN COALESCE(first_scanned_at, p_now) ELSE first_scanned_at END
        WHERE serial = p_serial AND claimed_member_id IS NULL;
        IF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = 'SC001'; END IF;
        -- 2. the caps: a conditional upsert per period.
        IF p_cap_day IS NOT NULL THEN
            INSERT INTO scancodes_claimcounter AS c (member_id, campaign_id, period, starts, claims)
            VALUES (p_member_id, p_campaign_id, 'd', p_biz_date, 1)
            ON CONFLICT (member_id, campaign_id, period, starts) DO UPDATE SET claims = c.claims + 1
            WHERE c.claims < p_cap_day;
            IF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = 'SC001'; END IF;
        END IF;
        IF p_cap_month IS NOT NULL THEN
            INSERT INTO scancodes_claimcounter AS c (member_id, campaign_id, period, starts, claims)
            VALUES (p_member_id, p_campaign_id, 'm', date_trunc('month', p_biz_date)::date, 1)
            ON CONFLICT (member_id, campaign_id, period, starts) DO UPDATE SET claims = c.claims + 1
            WHERE c.claims < p_cap_month;
            IF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = 'SC001'; END IF;
        END IF;
        -- 3. the budget.
        IF p_budgeted THEN
            UPDATE scancodes_scancampaign SET spent_points = spent_points + p_units
            WHERE id = p_campaign_id AND spent_points <= budget_points - p_units;
            IF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = 'SC001'; END IF;
        END IF;
        -- 4. the claim.
        INSERT INTO scancodes_claim (code_id, member_id, batch_id, segment_id, campaign_id, dealer_id, sku,
            status, reward_kind, points, growth, coupon_id, pending_reason, at, biz_date, province, city, ip,
            device, diverted, new_member, decided_by, void_reason)
        VALUES (p_serial, p_member_id, p_batch_id, p_segment_id, p_campaign_id, p_dealer_id, p_sku,
            'granted', 'points', p_units, 0, NULL, '', p_now, p_biz_date, p_province, p_city, p_ip,
            p_device, false, false, '', '')
        RETURNING id INTO v_claim;
        -- 5. the points (members' points_award_bonus → _credit).
        SELECT m.points_balance, m.points_pending, m.points_debt, m.tier_id, m.status, m.merged_into_id
        INTO v_balance, v_pending, v_debt, v_tier, v_status, v_merged
        FROM members_member m WHERE m.id = p_member_id FOR NO KEY UPDATE;
        IF v_merged IS NOT NULL OR v_status = 'erased' THEN RAISE EXCEPTION USING ERRCODE = 'SC001'; END IF;
        SELECT lp.expiry, lp.expiry_days INTO v_expiry, v_expiry_days
        FROM members_loyaltyprogram lp WHERE lp.singleton;
        IF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = 'SC001'; END IF;
        v_expires := CASE v_expiry
            WHEN 'never' THEN NULL
            WHEN 'days' THEN p_now + make_interval(days => COALESCE(v_expiry_days, 0))
            ELSE make_timestamptz(extract(year FROM p_now AT TIME ZONE p_tz)::integer + 2, 1, 1, 0, 0, 0, p_tz)
        END;
        INSERT INTO members_pointsentry (member_id, kind, points, balance_after, reason, reference, order_id,
            actor, created_at)
        VALUES (p_member_id, 'bonus', p_units, v_balance + v_pending - v_debt + p_units, p_reason,
            'scan:' || p_serial, NULL, 'scancodes', p_now)
        ON CONFLICT (member_id, kind, reference) WHERE NOT (reference = '') DO NOTHING
        RETURNING id INTO v_entry;
        IF v_entry IS NULL THEN RAISE EXCEPTION USING ERRCODE = 'SC001'; END IF;
        v_debt_paid := LEAST(p_units, v_debt);
        v_net := p_units - v_debt_paid;
        IF v_net > 0 THEN
            INSERT INTO members_pointslot (member_id, entry_id, points, remaining, earned_at, available_at,
                expires_at, expired, pending)
            VALUES (p_member_id, v_entry, v_net, v_net, p_now, p_now, v_expires, false, false);
        END IF;
        UPDATE members_member SET points_balance = v_balance + v_net, points_debt = v_debt - v_debt_paid,
            updated_at = p_now
        WHERE id = p_member_id;
        -- 6. the tags (members' member_tags_add: missing tags made, missing links added; a tag
        -- another transaction made meanwhile is seen by the next attempt's snapshot).
        IF cardinality(p_tag_names) > 0 THEN
            FOR v_attempt IN 1..3 LOOP
                WITH made AS (
                    INSERT INTO members_tag (name, "group", wecom_tag_id, created_at, updated_at)
                    SELECT n, p_tag_group, '', p_now, p_now FROM unnest(p_tag_names) AS n
                    ON CONFLICT (name) DO NOTHING
                    RETURNING id, name
                ), tags AS (
                    SELECT t.id, t.name FROM members_tag t WHERE t.name = ANY(p_tag_names)
                    UNION ALL SELECT made.id, made.name FROM made
                ), linked AS (
                    INSERT INTO members_membertag (member_id, tag_id, created_at)
                    SELECT m.id, tags.id, p_now FROM tags, members_member m
                    WHERE m.id = p_member_id AND m.status NOT IN ('merged', 'erased')
                    ON CONFLICT DO NOTHING
                    RETURNING tag_id
                )
                SELECT count(*)::integer,
                       COALESCE(array_agg(tags.id) FILTER (WHERE tags.id IN (SELECT tag_id FROM linked)), '{}')
                INTO v_rows, v_links FROM tags;
                v_added := v_added || v_links;
                EXIT WHEN v_rows >= cardinality(p_tag_names);
            END LOOP;
        END IF;
        -- 7. the scan log.
        INSERT INTO scancodes_scan (serial, at, biz_date, outcome, member_id, ip, device, province, city,
            precise_consent, latitude, longitude, channel)
        VALUES (p_serial, p_now, p_biz_date, 'claimed', p_member_id, p_ip, p_device, p_province, p_city,
            p_precise, p_latitude, p_longitude, p_channel);
    EXCEPTION WHEN SQLSTATE 'SC001' THEN
        -- Every write of the block is undone (a subtransaction): the caller takes the ORM path.
        RETURN QUERY SELECT 'slow'::text, NULL::bigint, NULL::integer, NULL::integer, NULL::integer,
            NULL::integer, NULL::integer, NULL::integer, NULL::bigint, NULL::bigint[];
        RETURN;
    END;
    RETURN QUERY SELECT 'ok'::text, v_claim, v_balance, v_pending, v_debt, v_balance + v_net, v_pending,
        v_debt - v_debt_paid, v_tier, v_added;
END
$fn$"""
