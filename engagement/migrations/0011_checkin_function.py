"""engagement_checkin(): the common check-in (the first of the day with its daily points and
growth value, no ladder step reached, no tier lifted) in one statement, the same rows as the ORM
path of engagement/services/checkin.py; anything else answers 'slow' before writing, and the ORM
path takes over in the same transaction (see checkin_perform). One function per brand schema (the
tables are the schema's own, found through the search path; PL/pgSQL keeps its plans per function,
so per schema)."""

from django.db import migrations

# Outcomes: 'existing' (today's record, nothing written), 'created' (written: the record, the
# points entry, lot and balances, the growth entry, account and month), 'slow' (nothing written;
# the member row stays locked in the caller's transaction when it was reached).
# Parameters: the member (its id; or NULL and its number, 'not_found' when no member has it), the
# brand day, the instant (timezone.now(): every timestamp written),
# the brand month of the instant (growth cap), the brand's time zone (points expiry at the end
# of the following year), the channel.
FUNCTION_SQL = """CREATE OR REPLACE FUNCTION engagement_checkin(p_member_id bigint, p_member_no text, p_today date, p_now timestamptz, p_month date, p_zone text, p_channel text)
RETURNS TABLE (outcome text, member_id bigint, id bigint, cycle_start date, streak integer, made_up boolean, points integer, growth integer, cost_points integer, rewards jsonb, channel text, created_at timestamptz, tier_id bigint, balance_before integer, pending_before integer, debt_before integer, balance_after integer, pending_after integer, debt_after integer)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
DECLARE
    c engagement_checkin%ROWTYPE;
    s engagement_engagementsettings%ROWTYPE;
    m record;
    v_prev_streak integer;
    v_prev_start date;
    v_start date;
    v_end date;
    v_run integer;
    v_ref text := 'checkin:' || to_char(p_today, 'YYYY-MM-DD');
    v_reason text := '签到奖励（' || to_char(p_today, 'YYYY-MM-DD') || '）';
    v_points integer;
    v_growth integer;
    v_granted integer := 0;
    v_total integer;
    v_expiry text;
    v_expiry_days integer;
    v_expires timestamptz;
    v_cur_rank integer;
    v_debt_paid integer;
    v_entry_id bigint;
    v_growth_balance integer;
    v_rewards jsonb := '[]'::jsonb;
BEGIN
    -- A partner names the member by number: a merged number's survivor is the ORM path's to find.
    IF p_member_id IS NULL THEN
        SELECT mm.id, mm.merged_into_id INTO m FROM members_member mm WHERE mm.member_no = p_member_no;
        IF NOT FOUND OR m.merged_into_id IS NOT NULL THEN
            RETURN QUERY SELECT CASE WHEN m.id IS NULL THEN 'not_found' ELSE 'slow' END::text, m.id::bigint, NULL::bigint, NULL::date, NULL::integer, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::jsonb, NULL::text, NULL::timestamptz, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
            RETURN;
        END IF;
        p_member_id := m.id;
    END IF;
    -- The repeat of the day (a double tap, a retry): today's record, unlocked, as the ORM path.
    SELECT * INTO c FROM engagement_checkin WHERE member_id = p_member_id AND biz_date = p_today;
    IF FOUND THEN
        RETURN QUERY SELECT 'existing'::text, p_member_id, c.id, c.cycle_start, c.streak::integer, c.made_up, c.points::integer, c.growth::integer, c.cost_points::integer, c.rewards, c.channel::text, c.created_at, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    SELECT * INTO s FROM engagement_engagementsettings WHERE singleton;
    IF NOT FOUND OR NOT s.checkin_enabled THEN
        RETURN QUERY SELECT 'slow'::text, p_member_id, NULL::bigint, NULL::date, NULL::integer, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::jsonb, NULL::text, NULL::timestamptz, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    -- Lock step 1 (members/services/points.py): concurrent check-ins of the member queue here.
    SELECT mm.id, mm.status, mm.merged_into_id, mm.tier_id, mm.tier_floor_id, mm.points_balance, mm.points_pending, mm.points_debt
        INTO m FROM members_member mm WHERE mm.id = p_member_id FOR NO KEY UPDATE;
    IF NOT FOUND OR m.merged_into_id IS NOT NULL OR m.status <> 'active' THEN
        RETURN QUERY SELECT 'slow'::text, p_member_id, NULL::bigint, NULL::date, NULL::integer, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::jsonb, NULL::text, NULL::timestamptz, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    -- A racing tap that won the lock (a new snapshot: this is a volatile function's next statement).
    SELECT * INTO c FROM engagement_checkin WHERE member_id = p_member_id AND biz_date = p_today;
    IF FOUND THEN
        RETURN QUERY SELECT 'existing'::text, p_member_id, c.id, c.cycle_start, c.streak::integer, c.made_up, c.points::integer, c.growth::integer, c.cost_points::integer, c.rewards, c.channel::text, c.created_at, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    SELECT ck.streak INTO v_prev_streak FROM engagement_checkin ck WHERE ck.member_id = p_member_id AND ck.biz_date = p_today - 1;
    IF s.checkin_cycle = 'month' THEN
        v_start := date_trunc('month', p_today)::date;
        v_end := (date_trunc('month', p_today) + interval '1 month' - interval '1 day')::date;
    ELSE
        SELECT ck.cycle_start INTO v_prev_start FROM engagement_checkin ck
            WHERE ck.member_id = p_member_id AND ck.biz_date < p_today ORDER BY ck.biz_date DESC LIMIT 1;
        IF v_prev_start IS NOT NULL AND p_today <= v_prev_start + (s.checkin_cycle_days - 1) THEN
            v_start := v_prev_start;
        ELSE
            v_start := p_today;
        END IF;
        v_end := v_start + (s.checkin_cycle_days - 1);
    END IF;
    -- A ladder step this run reaches and the cycle has not claimed: the ORM path grants it.
    IF EXISTS (SELECT FROM engagement_checkinladderstep l WHERE l.active AND NOT EXISTS (
                   SELECT FROM engagement_checkinmilestone cm
                   WHERE cm.member_id = p_member_id AND cm.cycle_start = v_start AND cm.days = l.days)) THEN
        SELECT 1
            + (SELECT count(*) FROM (SELECT ck.biz_date, row_number() OVER (ORDER BY ck.biz_date DESC) AS rn
                                     FROM engagement_checkin ck WHERE ck.member_id = p_member_id
                                       AND ck.biz_date >= v_start AND ck.biz_date < p_today) b
               WHERE p_today - b.biz_date = b.rn)
            + (SELECT count(*) FROM (SELECT ck.biz_date, row_number() OVER (ORDER BY ck.biz_date) AS rn
                                     FROM engagement_checkin ck WHERE ck.member_id = p_member_id
                                       AND ck.biz_date > p_today AND ck.biz_date <= v_end) f
               WHERE f.biz_date - p_today = f.rn)
            INTO v_run;
        IF EXISTS (SELECT FROM engagement_checkinladderstep l WHERE l.active AND l.days <= v_run AND NOT EXISTS (
                       SELECT FROM engagement_checkinmilestone cm
                       WHERE cm.member_id = p_member_id AND cm.cycle_start = v_start AND cm.days = l.days)) THEN
            RETURN QUERY SELECT 'slow'::text, p_member_id, NULL::bigint, NULL::date, NULL::integer, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::jsonb, NULL::text, NULL::timestamptz, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
            RETURN;
        END IF;
    END IF;
    v_points := s.checkin_daily_points;
    v_growth := s.checkin_daily_growth;
    -- The day's reward entries already there (a record removed by hand): the ORM path says so.
    IF (v_points > 0 AND EXISTS (SELECT FROM members_pointsentry e WHERE e.member_id = p_member_id AND e.kind = 'bonus' AND e.reference = v_ref))
       OR (v_growth > 0 AND EXISTS (SELECT FROM engagement_growthentry g WHERE g.member_id = p_member_id AND g.kind = 'checkin' AND g.reference = v_ref)) THEN
        RETURN QUERY SELECT 'slow'::text, p_member_id, NULL::bigint, NULL::date, NULL::integer, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::jsonb, NULL::text, NULL::timestamptz, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    IF v_points > 0 THEN
        SELECT lp.expiry, lp.expiry_days INTO v_expiry, v_expiry_days FROM members_loyaltyprogram lp WHERE lp.singleton;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'slow'::text, p_member_id, NULL::bigint, NULL::date, NULL::integer, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::jsonb, NULL::text, NULL::timestamptz, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
            RETURN;
        END IF;
        -- members.services.points.lot_expires_at
        v_expires := CASE v_expiry
            WHEN 'never' THEN NULL
            WHEN 'days' THEN p_now + make_interval(days => COALESCE(v_expiry_days, 0))
            ELSE make_timestamptz(extract(year FROM p_now AT TIME ZONE p_zone)::integer + 2, 1, 1, 0, 0, 0, p_zone) END;
    END IF;
    IF v_growth > 0 THEN
        SELECT gm.total INTO v_total FROM engagement_growthactivitymonth gm WHERE gm.member_id = p_member_id AND gm.month = p_month;
        v_total := COALESCE(v_total, 0);
        IF v_total < s.growth_activity_cap_per_month THEN
            v_granted := LEAST(v_total + v_growth, s.growth_activity_cap_per_month) - v_total;
        END IF;
        -- Growth that may lift the tier (members.services.tiers.tier_lift_locked): the ORM path.
        IF v_granted > 0 THEN
            SELECT t.rank INTO v_cur_rank FROM members_tier t WHERE t.id = m.tier_id;
            IF (m.tier_id IS NULL AND EXISTS (SELECT FROM members_tier))
               OR EXISTS (SELECT FROM members_tier t WHERE t.id = m.tier_floor_id AND t.rank > v_cur_rank)
               OR EXISTS (SELECT FROM members_tier t WHERE t.rank > v_cur_rank AND (
                   t.basis NOT IN ('spend', 'points', 'growth')
                   OR (t.basis = 'growth' AND v_granted + COALESCE((
                       SELECT sum(g.value) FROM engagement_growthentry g
                       WHERE g.member_id = p_member_id AND g.created_at >= p_now - make_interval(days => t.window_days)), 0) >= t.threshold)
                   OR (t.basis = 'spend' AND COALESCE((
                       SELECT sum(o.amount_fen - o.refunded_fen) FROM members_order o
                       WHERE o.member_id = p_member_id AND o.paid_at >= p_now - make_interval(days => t.window_days)), 0) >= t.threshold)
                   OR (t.basis = 'points' AND COALESCE((
                       SELECT sum(e.points) FROM members_pointsentry e
                       WHERE e.member_id = p_member_id AND (e.kind = 'earn' OR (e.kind = 'reverse' AND e.points < 0))
                         AND e.created_at >= p_now - make_interval(days => t.window_days)), 0) >= t.threshold))) THEN
                RETURN QUERY SELECT 'slow'::text, p_member_id, NULL::bigint, NULL::date, NULL::integer, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::jsonb, NULL::text, NULL::timestamptz, NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer, NULL::integer;
                RETURN;
            END IF;
        END IF;
    END IF;
    -- Decided: write what engagement.rewards.reward_grant_locked writes, points then growth.
    IF v_points > 0 THEN
        v_rewards := v_rewards || jsonb_build_array(jsonb_build_object(
            'kind', 'points', 'amount', v_points, 'label', v_reason || '：' || v_points || ' 积分'));
    END IF;
    IF v_growth > 0 THEN
        v_rewards := v_rewards || jsonb_build_array(jsonb_build_object(
            'kind', 'growth', 'amount', v_granted, 'label', v_reason || '：' || v_granted || ' 成长值'
            || CASE WHEN v_granted = v_growth THEN '' ELSE '（本月活动成长值已达上限）' END));
    END IF;
    INSERT INTO engagement_checkin AS ck (member_id, biz_date, cycle_start, streak, made_up, points, growth, cost_points, rewards, channel, created_at)
        VALUES (p_member_id, p_today, v_start, COALESCE(v_prev_streak, 0) + 1, false, CASE WHEN v_points > 0 THEN v_points ELSE 0 END, v_granted, 0, v_rewards, left(p_channel, 32), p_now)
        RETURNING * INTO c;
    IF v_points > 0 THEN
        -- members.services.points._credit: the debt first, the rest a lot available now.
        v_debt_paid := LEAST(v_points, m.points_debt);
        INSERT INTO members_pointsentry AS e (member_id, kind, points, balance_after, reason, reference, order_id, actor, created_at)
            VALUES (p_member_id, 'bonus', v_points, m.points_balance + m.points_pending - m.points_debt + v_points, v_reason, v_ref, NULL, 'engagement', p_now)
            RETURNING e.id INTO v_entry_id;
        IF v_points > v_debt_paid THEN
            INSERT INTO members_pointslot (member_id, entry_id, points, remaining, earned_at, available_at, expires_at, expired, pending)
                VALUES (p_member_id, v_entry_id, v_points - v_debt_paid, v_points - v_debt_paid, p_now, p_now, v_expires, false, false);
        END IF;
        UPDATE members_member mm SET points_balance = mm.points_balance + (v_points - v_debt_paid),
                                     points_debt = mm.points_debt - v_debt_paid, updated_at = p_now
            WHERE mm.id = p_member_id;
    END IF;
    IF v_growth > 0 THEN
        -- engagement.services.growth.growth_activity_credit_locked (the month row even at the cap).
        INSERT INTO engagement_growthactivitymonth AS gm (member_id, month, total) VALUES (p_member_id, p_month, v_granted)
            ON CONFLICT (member_id, month) DO UPDATE SET total = gm.total + EXCLUDED.total WHERE EXCLUDED.total > 0;
        IF v_granted > 0 THEN
            INSERT INTO engagement_growthaccount AS a (member_id, balance, updated_at) VALUES (p_member_id, v_granted, p_now)
                ON CONFLICT (member_id) DO UPDATE SET balance = a.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at
                RETURNING a.balance INTO v_growth_balance;
            INSERT INTO engagement_growthentry (member_id, kind, value, balance_after, activity, reason, reference, order_id, actor, created_at)
                VALUES (p_member_id, 'checkin', v_granted, v_growth_balance, true,
                        CASE WHEN v_granted < v_growth
                             THEN v_reason || '（本月活动成长值已达上限 ' || s.growth_activity_cap_per_month || '，实得 ' || v_granted || '）'
                             ELSE v_reason END,
                        v_ref, NULL, 'system', p_now);
        END IF;
    END IF;
    RETURN QUERY SELECT 'created'::text, p_member_id, c.id, c.cycle_start, c.streak::integer, c.made_up, c.points::integer, c.growth::integer, c.cost_points::integer, c.rewards, c.channel::text, c.created_at, m.tier_id::bigint,
        m.points_balance, m.points_pending, m.points_debt,
        m.points_balance + CASE WHEN v_points > 0 THEN v_points - v_debt_paid ELSE 0 END, m.points_pending,
        m.points_debt - COALESCE(v_debt_paid, 0);
END
$fn$"""

DROP_SQL = "DROP FUNCTION IF EXISTS engagement_checkin(bigint, text, date, timestamptz, date, text, text)"


class Migration(migrations.Migration):
    dependencies = [("engagement", "0010_reminders_wecom_referral_export")]

    operations = [migrations.RunSQL([FUNCTION_SQL], [DROP_SQL])]
