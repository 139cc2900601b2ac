-- Up Migration
-- create_quotes: many quotes in one statement and one commit. Under load the API groups concurrent
-- unkeyed quotes into one call (app/db/quote-writes.ts). Each answer carries the meter figures the
-- quote would have had sent alone, in arrival order per tenant.
-- Per tenant, the batch's quotes are counted with one meter_consume of their number and stored with
-- one INSERT: the usage row is locked once for all of them. When they do not all fit (the tenant is
-- at its ceiling), that tenant's quotes go one by one through create_quote, so exactly those that fit
-- are admitted and each refusal reports the figures that caused it.
-- Tenants are taken in id order: two batches that share tenants lock their usage rows in the same
-- order and never deadlock.
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
#variable_conflict use_column
DECLARE
  tenant uuid;
  idx integer[];
  n integer;
  i integer;
  m record;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  FOR tenant IN SELECT DISTINCT u.t FROM unnest(p_tenants) AS u(t) ORDER BY 1 LOOP
    idx := ARRAY(SELECT u.o::integer FROM unnest(p_tenants) WITH ORDINALITY AS u(t, o) WHERE u.t = tenant ORDER BY u.o);
    n := cardinality(idx);
    PERFORM set_config('app.tenant_id', tenant::text, true);
    IF p_metered THEN
      SELECT * INTO m FROM meter_consume('quotes', n);
      IF NOT FOUND THEN
        -- No entitlement: nothing stored, nothing counted.
        RETURN QUERY SELECT x.i, false, NULL::text, NULL::bigint, NULL::bigint, NULL::boolean, NULL::timestamptz,
                            NULL::bigint, NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::timestamptz
                       FROM unnest(idx) AS x(i);
        CONTINUE;
      END IF;
      IF m.used_after IS NULL THEN
        -- Not all of them fit: one by one, in arrival order (meter_consume counted nothing).
        FOREACH i IN ARRAY idx LOOP
          RETURN QUERY SELECT i, c.*
            FROM create_quote(tenant, true, p_origins[i], p_destinations[i], p_equipment[i], p_weight_lbs[i],
                              p_pickup_dates[i], p_distance_miles[i], p_linehaul_cents[i],
                              p_fuel_surcharge_cents[i], p_margin_cents[i], p_total_cents[i], p_breakdowns[i],
                              p_pricing_versions[i], p_ttl_minutes) c;
        END LOOP;
        CONTINUE;
      END IF;
    ELSE
      SELECT NULL::text AS period, NULL::bigint AS included, NULL::bigint AS hard_ceiling,
             NULL::boolean AS overage_allowed, NULL::timestamptz AS period_start, NULL::bigint AS used_after,
             NULL::bigint AS used_before
        INTO m;
    END IF;
    -- All admitted (or unmetered): the k-th quote of this tenant used the k-th unit of the n counted.
    RETURN QUERY
      WITH src AS (
        SELECT x.i, x.k::integer AS k, gen_random_uuid() AS id FROM unnest(idx) WITH ORDINALITY AS x(i, k)
      ), stored AS (
        INSERT INTO quotes AS q (id, tenant_id, origin, destination, equipment, weight_lbs, pickup_date,
                                 distance_miles, linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents,
                                 breakdown, pricing_version, expires_at)
        SELECT src.id, tenant, p_origins[src.i], p_destinations[src.i], p_equipment[src.i], p_weight_lbs[src.i],
               p_pickup_dates[src.i], p_distance_miles[src.i], p_linehaul_cents[src.i],
               p_fuel_surcharge_cents[src.i], p_margin_cents[src.i], p_total_cents[src.i], p_breakdowns[src.i],
               p_pricing_versions[src.i], now() + make_interval(mins => p_ttl_minutes)
          FROM src
        RETURNING q.id, q.created_at, q.expires_at
      )
      SELECT src.i, true, m.period, m.included, m.hard_ceiling, m.overage_allowed, m.period_start,
             m.used_after - n + src.k,
             CASE WHEN NOT (m.used_before IS NULL AND src.k = 1) THEN m.used_after - n + src.k - 1 END,
             stored.id, stored.created_at, stored.expires_at
        FROM src JOIN stored ON stored.id = src.id;
  END LOOP;
END
$$;

GRANT EXECUTE ON FUNCTION create_quotes(uuid[], boolean, text[], text[], text[], integer[], date[], integer[],
                                        bigint[], bigint[], bigint[], bigint[], json[], text[], integer)
  TO freight_app;

-- Down Migration
DROP FUNCTION create_quotes(uuid[], boolean, text[], text[], text[], integer[], date[], integer[], bigint[],
                            bigint[], bigint[], bigint[], json[], text[], integer);
