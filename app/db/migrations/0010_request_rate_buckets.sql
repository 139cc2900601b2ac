-- Up Migration
-- Request rate limits, enforced by every API replica of a region against one shared token bucket per
-- tenant (and per client address for the anonymous rate calculator). PostgreSQL is the shared store:
-- it is already in both regions and locally, and the replicas reach it in one round trip. The app
-- does not call this per request: a replica leases a batch of tokens (app/http/rate-limit.ts) and
-- spends them locally, so the bucket row is touched a few dozen times a second per busy tenant.
--
-- A bucket holds token counts only, no tenant data, and is keyed by text ('tenant:<uuid>',
-- 'address:<ip>'): it is not a tenant table, so it is not under row-level security. The functions
-- run with the caller's rights (no SECURITY DEFINER: nothing here needs to see across tenants).
CREATE TABLE request_rate_buckets (
  bucket text PRIMARY KEY CHECK (bucket ~ '^(tenant|address):.{1,100}$'),
  tokens double precision NOT NULL CHECK (tokens >= 0),
  refilled_at timestamptz NOT NULL
) WITH (fillfactor = 50);

-- Takes up to p_want tokens from a bucket that refills at p_rate tokens per second up to p_burst, and
-- returns how many were granted and how many are left. A new bucket starts full. One row lock per
-- call; the commit skips the WAL flush because a bucket lost in a crash only refills early.
CREATE FUNCTION take_request_tokens(p_bucket text, p_rate double precision, p_burst double precision,
                                    p_want integer)
RETURNS TABLE (granted integer, tokens_left double precision)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  b record;
  now_at timestamptz;
  available double precision;
  taken integer;
BEGIN
  IF p_rate <= 0 OR p_burst < 1 OR p_want < 1 THEN
    RAISE EXCEPTION 'take_request_tokens: rate must be > 0, burst >= 1 and want >= 1 (got %, %, %)',
      p_rate, p_burst, p_want USING ERRCODE = '22023';
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);
  INSERT INTO request_rate_buckets (bucket, tokens, refilled_at) VALUES (p_bucket, p_burst, clock_timestamp())
    ON CONFLICT (bucket) DO NOTHING;
  SELECT r.tokens, r.refilled_at INTO b FROM request_rate_buckets r WHERE r.bucket = p_bucket FOR UPDATE;
  -- Read the clock after the lock: time spent waiting for it refills the bucket too.
  now_at := greatest(clock_timestamp(), b.refilled_at);
  available := least(p_burst, b.tokens + extract(epoch FROM now_at - b.refilled_at) * p_rate);
  taken := least(p_want, floor(available))::integer;
  UPDATE request_rate_buckets SET tokens = available - taken, refilled_at = now_at WHERE bucket = p_bucket;
  RETURN QUERY SELECT taken, available - taken;
END
$$;

-- A tenant's bucket at its effective limits: tenant_rate_limits (the rate-limit controller's), the
-- plan's plan_rate_limits when the controller has not written a row yet. Read on every call, so an
-- operator's change applies at the next lease. No row when the tenant is unknown.
CREATE FUNCTION take_tenant_request_tokens(p_tenant uuid, p_want integer)
RETURNS TABLE (granted integer, tokens_left double precision, requests_per_second integer, burst integer)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  lim record;
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  SELECT coalesce(trl.requests_per_second, prl.requests_per_second) AS rps,
         coalesce(trl.burst, prl.burst) AS burst
    INTO lim
    FROM tenants t
    LEFT JOIN tenant_rate_limits trl ON trl.tenant_id = t.id
    LEFT JOIN plan_rate_limits prl ON prl.plan_id = t.plan_id
   WHERE t.id = p_tenant;
  IF lim.rps IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT g.granted, g.tokens_left, lim.rps, lim.burst
                 FROM take_request_tokens('tenant:' || p_tenant::text, lim.rps, lim.burst, p_want) g;
END
$$;

GRANT SELECT, INSERT, UPDATE ON request_rate_buckets TO freight_app;
GRANT EXECUTE ON FUNCTION take_tenant_request_tokens(uuid, integer) TO freight_app;
GRANT EXECUTE ON FUNCTION take_request_tokens(text, double precision, double precision, integer) TO freight_app;

-- Down Migration
DROP FUNCTION take_tenant_request_tokens(uuid, integer);
DROP FUNCTION take_request_tokens(text, double precision, double precision, integer);
DROP TABLE request_rate_buckets;
