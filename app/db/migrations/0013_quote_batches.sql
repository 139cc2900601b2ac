-- Up Migration
-- create_quotes: many quotes in one statement and one commit. Under load the API groups concurrent
-- unkeyed quotes into one call (app/db/quote-writes.ts); each element runs create_quote exactly as a
-- quote sent alone would, so its meter figures and refusal are the same.
-- Order: by tenant, then by arrival. Two batches that share tenants lock their usage rows in the same
-- order and never deadlock; within a tenant, quotes are counted in the order they arrived.
CREATE FUNCTION create_quotes(
  p_tenants uuid[], p_metered boolean, p_origins text[], p_destinations text[], p_equipment text[],
  p_weight_lbs integer[], p_pickup_dates date[], p_distance_miles integer[], p_linehaul_cents bigint[],
  p_fuel_surcharge_cents bigint[], p_margin_cents bigint[], p_total_cents bigint[], p_breakdowns json[],
  p_pricing_versions text[], p_ttl_minutes integer)
RETURNS TABLE (ord integer, has_entitlement boolean, period text, included bigint, hard_ceiling bigint,
               overage_allowed boolean, period_start timestamptz, used_after bigint, used_before bigint,
               quote_id uuid, created_at timestamptz, expires_at timestamptz)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  i integer;
BEGIN
  FOR i IN SELECT t.o::integer FROM unnest(p_tenants) WITH ORDINALITY AS t(tenant, o) ORDER BY t.tenant, t.o LOOP
    RETURN QUERY SELECT i, c.*
      FROM create_quote(p_tenants[i], p_metered, p_origins[i], p_destinations[i], p_equipment[i],
                        p_weight_lbs[i], p_pickup_dates[i], p_distance_miles[i], p_linehaul_cents[i],
                        p_fuel_surcharge_cents[i], p_margin_cents[i], p_total_cents[i], p_breakdowns[i],
                        p_pricing_versions[i], p_ttl_minutes) c;
  END LOOP;
END
$$;

GRANT EXECUTE ON FUNCTION create_quotes(uuid[], boolean, text[], text[], text[], integer[], date[], integer[],
                                        bigint[], bigint[], bigint[], bigint[], json[], text[], integer)
  TO freight_app;

-- Down Migration
DROP FUNCTION create_quotes(uuid[], boolean, text[], text[], text[], integer[], date[], integer[], bigint[],
                            bigint[], bigint[], bigint[], json[], text[], integer);
