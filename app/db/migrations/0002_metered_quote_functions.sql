-- Up Migration
-- Check-and-count as one server-side statement, and the quote path as one round trip. A tenant's usage
-- row is locked from the upsert to the commit, so that window must not include a trip back to the
-- app: otherwise one busy tenant is capped at one quote per network round trip.

-- Counts p_quantity units of p_meter for the tenant in context, or denies without counting: the upsert
-- locks the usage row and re-checks the ceiling on the locked row, so N concurrent calls against a
-- remaining allowance of k admit exactly k. No row: the tenant has no entitlement for the meter.
-- plpgsql rather than a plain SQL function: its statement plan is prepared once per session and
-- reused, where a non-inlined SQL function is planned again on every call.
CREATE FUNCTION meter_consume(p_meter text, p_quantity bigint)
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

-- Prices are computed by the app; this stores the quote and counts the `quotes` meter for p_tenant in
-- one statement. Denied or without entitlement: nothing is stored (quote_id is NULL).
-- The commit does not wait for the WAL flush: a quote is an offer the caller can request again, and a
-- synchronous flush while the usage row is locked would serialise the tenant on disk latency.
CREATE FUNCTION create_quote(
  p_tenant uuid, p_metered boolean, p_origin text, p_destination text, p_equipment text, p_weight_lbs integer,
  p_pickup_date date, p_distance_miles integer, p_linehaul_cents bigint, p_fuel_surcharge_cents bigint,
  p_margin_cents bigint, p_total_cents bigint, p_breakdown json, p_pricing_version text, p_ttl_minutes integer)
RETURNS TABLE (has_entitlement boolean, period text, included bigint, hard_ceiling bigint, overage_allowed boolean,
               period_start timestamptz, used_after bigint, used_before bigint,
               quote_id uuid, created_at timestamptz, expires_at timestamptz)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  m record;
  q record;
  entitled boolean;
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  PERFORM set_config('synchronous_commit', 'off', true);
  INSERT INTO quotes AS qq (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
                            linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown,
                            pricing_version, expires_at)
  VALUES (p_tenant, p_origin, p_destination, p_equipment, p_weight_lbs, p_pickup_date, p_distance_miles,
          p_linehaul_cents, p_fuel_surcharge_cents, p_margin_cents, p_total_cents, p_breakdown,
          p_pricing_version, now() + make_interval(mins => p_ttl_minutes))
  RETURNING qq.id, qq.created_at, qq.expires_at INTO q;
  IF NOT p_metered THEN
    RETURN QUERY SELECT true, NULL::text, NULL::bigint, NULL::bigint, NULL::boolean, NULL::timestamptz,
                        NULL::bigint, NULL::bigint, q.id, q.created_at, q.expires_at;
    RETURN;
  END IF;
  -- Counted last: the tenant's usage row stays locked only from here to the commit.
  SELECT * INTO m FROM meter_consume('quotes', 1);
  entitled := FOUND;
  IF NOT entitled OR m.used_after IS NULL THEN
    -- Denied (or no entitlement): the quote, never visible to anyone, goes again.
    DELETE FROM quotes WHERE id = q.id;
    RETURN QUERY SELECT entitled, m.period, m.included, m.hard_ceiling, m.overage_allowed, m.period_start,
                        NULL::bigint, m.used_before, NULL::uuid, NULL::timestamptz, NULL::timestamptz;
    RETURN;
  END IF;
  RETURN QUERY SELECT true, m.period, m.included, m.hard_ceiling, m.overage_allowed, m.period_start,
                      m.used_after, m.used_before, q.id, q.created_at, q.expires_at;
END
$$;

GRANT EXECUTE ON FUNCTION meter_consume(text, bigint) TO freight_app;
GRANT EXECUTE ON FUNCTION create_quote(uuid, boolean, text, text, text, integer, date, integer, bigint, bigint,
                                       bigint, bigint, json, text, integer) TO freight_app;

-- Down Migration
DROP FUNCTION create_quote(uuid, boolean, text, text, text, integer, date, integer, bigint, bigint, bigint, bigint,
                           json, text, integer);
DROP FUNCTION meter_consume(text, bigint);
