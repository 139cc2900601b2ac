-- Up Migration
-- A refusal reports the figures that caused it. meter_consume's upsert re-checks the ceiling on the
-- newest version of the locked usage row, but the figure it returned for a denial came from the same
-- statement's snapshot, taken before it waited for that lock: under contention for the last units a
-- 429 could say 1,099 used of 1,100 while the unit that made it 1,100 had committed meanwhile.
-- Now a denial re-reads the row in a statement of its own (a fresh snapshot in READ COMMITTED); the
-- upsert still holds the row's lock, so the figure read is exactly the one that was refused, and
-- nobody can move it before this transaction ends. Admissions are unchanged and take no extra read.
CREATE OR REPLACE FUNCTION meter_consume(p_meter text, p_quantity bigint)
RETURNS TABLE (period text, included bigint, hard_ceiling bigint, overage_allowed boolean,
               period_start timestamptz, used_after bigint, used_before bigint)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
  r record;
BEGIN
  FOR r IN
    WITH ent AS (
      SELECT e.period, e.included, e.hard_ceiling, e.overage_allowed,
             date_trunc(CASE e.period WHEN 'day' THEN 'day' ELSE 'month' END, now(), 'UTC') AS period_start
        FROM entitlements e
       WHERE e.tenant_id = current_tenant_id() AND e.meter = p_meter
    ), counted AS (
      INSERT INTO usage_counters AS u (tenant_id, meter, period_start, used)
      SELECT current_tenant_id(), p_meter, ent.period_start, p_quantity FROM ent WHERE p_quantity <= ent.hard_ceiling
      ON CONFLICT (tenant_id, meter, period_start) DO UPDATE
         SET used = u.used + excluded.used, updated_at = now()
       WHERE u.used + excluded.used <= (SELECT hard_ceiling FROM ent)
      RETURNING u.used
    )
    SELECT ent.period AS e_period, ent.included AS e_included, ent.hard_ceiling AS e_ceiling,
           ent.overage_allowed AS e_overage, ent.period_start AS e_start,
           (SELECT used FROM counted) AS e_after,
           (SELECT uc.used FROM usage_counters uc
             WHERE uc.tenant_id = current_tenant_id() AND uc.meter = p_meter AND uc.period_start = ent.period_start)
             AS e_before
      FROM ent
  LOOP
    period := r.e_period;
    included := r.e_included;
    hard_ceiling := r.e_ceiling;
    overage_allowed := r.e_overage;
    period_start := r.e_start;
    used_after := r.e_after;
    used_before := r.e_before;
    IF used_after IS NULL THEN
      SELECT uc.used INTO used_before FROM usage_counters uc
       WHERE uc.tenant_id = current_tenant_id() AND uc.meter = p_meter AND uc.period_start = r.e_start;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;

-- Down Migration
CREATE OR REPLACE FUNCTION meter_consume(p_meter text, p_quantity bigint)
RETURNS TABLE (period text, included bigint, hard_ceiling bigint, overage_allowed boolean,
               period_start timestamptz, used_after bigint, used_before bigint)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
    WITH ent AS (
      SELECT e.period, e.included, e.hard_ceiling, e.overage_allowed,
             date_trunc(CASE e.period WHEN 'day' THEN 'day' ELSE 'month' END, now(), 'UTC') AS period_start
        FROM entitlements e
       WHERE e.tenant_id = current_tenant_id() AND e.meter = p_meter
    ), counted AS (
      INSERT INTO usage_counters AS u (tenant_id, meter, period_start, used)
      SELECT current_tenant_id(), p_meter, ent.period_start, p_quantity FROM ent WHERE p_quantity <= ent.hard_ceiling
      ON CONFLICT (tenant_id, meter, period_start) DO UPDATE
         SET used = u.used + excluded.used, updated_at = now()
       WHERE u.used + excluded.used <= (SELECT hard_ceiling FROM ent)
      RETURNING u.used
    )
    SELECT ent.period, ent.included, ent.hard_ceiling, ent.overage_allowed, ent.period_start,
           (SELECT used FROM counted),
           (SELECT uc.used FROM usage_counters uc
             WHERE uc.tenant_id = current_tenant_id() AND uc.meter = p_meter AND uc.period_start = ent.period_start)
      FROM ent;
END
$$;
