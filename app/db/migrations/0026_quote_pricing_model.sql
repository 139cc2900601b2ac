-- Up Migration
-- A quote records the PricingModel that priced it and the tenant's bucket under the split's bucket
-- version (app/pricing/model-version.ts), beside the version name it already keeps in pricing_version:
-- the rollout's analysis and an audit of "why this tenant got this price" read them. Both are NULL for a
-- quote no model priced (a contract rate, and every quote stored before this migration).
-- Expand only: the columns are nullable without a default (no rewrite of the hot quotes table), the
-- bucket's range is checked for new rows only (NOT VALID: no scan under lock), and create_quote and
-- create_quotes gain overloads with the two values, so the previous version keeps calling the old
-- signatures while the new one rolls out (the old ones go in a later release).
ALTER TABLE quotes ADD COLUMN pricing_model text, ADD COLUMN pricing_bucket integer;
ALTER TABLE quotes ADD CONSTRAINT quotes_pricing_bucket_range
  CHECK (pricing_bucket IS NULL OR (pricing_bucket >= 0 AND pricing_bucket < 10000)) NOT VALID;

-- The runners price bulk lanes with the same split as the API.
GRANT SELECT ON pricing_model_splits TO freight_runner;

-- As in 0002, with the model and bucket stored too: still one statement per quote.
CREATE FUNCTION create_quote(
  p_tenant uuid, p_metered boolean, p_origin text, p_destination text, p_equipment text, p_weight_lbs integer,
  p_pickup_date date, p_distance_miles integer, p_linehaul_cents bigint, p_fuel_surcharge_cents bigint,
  p_margin_cents bigint, p_total_cents bigint, p_breakdown json, p_pricing_version text, p_pricing_model text,
  p_pricing_bucket integer, p_ttl_minutes integer)
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
                            pricing_version, pricing_model, pricing_bucket, expires_at)
  VALUES (p_tenant, p_origin, p_destination, p_equipment, p_weight_lbs, p_pickup_date, p_distance_miles,
          p_linehaul_cents, p_fuel_surcharge_cents, p_margin_cents, p_total_cents, p_breakdown,
          p_pricing_version, p_pricing_model, p_pricing_bucket, now() + make_interval(mins => p_ttl_minutes))
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

GRANT EXECUTE ON FUNCTION create_quote(uuid, boolean, text, text, text, integer, date, integer, bigint, bigint, bigint, bigint, json, text, text, integer, integer) TO freight_app;

-- As in 0013, with the model and bucket per quote: still one statement and one commit per batch.
CREATE FUNCTION create_quotes(
  p_tenants uuid[], p_metered boolean, p_origins text[], p_destinations text[], p_equipment text[],
  p_weight_lbs integer[], p_pickup_dates date[], p_distance_miles integer[], p_linehaul_cents bigint[],
  p_fuel_surcharge_cents bigint[], p_margin_cents bigint[], p_total_cents bigint[], p_breakdowns json[],
  p_pricing_versions text[], p_pricing_models text[], p_pricing_buckets integer[], p_ttl_minutes integer)
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
                              p_pricing_versions[i], p_pricing_models[i], p_pricing_buckets[i], p_ttl_minutes) c;
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
                                 breakdown, pricing_version, pricing_model, pricing_bucket, expires_at)
        SELECT src.id, tenant, p_origins[src.i], p_destinations[src.i], p_equipment[src.i], p_weight_lbs[src.i],
               p_pickup_dates[src.i], p_distance_miles[src.i], p_linehaul_cents[src.i],
               p_fuel_surcharge_cents[src.i], p_margin_cents[src.i], p_total_cents[src.i], p_breakdowns[src.i],
               p_pricing_versions[src.i], p_pricing_models[src.i], p_pricing_buckets[src.i],
               now() + make_interval(mins => p_ttl_minutes)
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

GRANT EXECUTE ON FUNCTION create_quotes(uuid[], boolean, text[], text[], text[], integer[], date[], integer[], bigint[], bigint[], bigint[], bigint[], json[], text[],
  text[], integer[], integer) TO freight_app;

-- Down Migration
REVOKE SELECT ON pricing_model_splits FROM freight_runner;
DROP FUNCTION create_quotes(uuid[], boolean, text[], text[], text[], integer[], date[], integer[], bigint[], bigint[], bigint[], bigint[], json[], text[],
  text[], integer[], integer);
DROP FUNCTION create_quote(uuid, boolean, text, text, text, integer, date, integer, bigint, bigint, bigint, bigint, json, text, text, integer, integer);
ALTER TABLE quotes DROP CONSTRAINT quotes_pricing_bucket_range;
ALTER TABLE quotes DROP COLUMN pricing_bucket, DROP COLUMN pricing_model;
