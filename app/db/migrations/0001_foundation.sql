-- Up Migration
-- The app's system of record. Every tenant-owned table is under FORCE row-level security keyed on
-- the per-transaction setting app.tenant_id; a session without it sees and writes nothing.
-- Roles (created by app/db/bootstrap.ts before migrations run):
--   freight_app       the API and runners: tenant rows of the tenant in context only
--   freight_operator  the platform operators: entitlements, rate limits, tenant lifecycle, all tenants
--   freight_ops       read-only reporting (ops queries, dashboards), all tenants
-- None of them is SUPERUSER or BYPASSRLS; the migration owner is subject to the policies too (FORCE).

CREATE FUNCTION current_tenant_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

-- Reference data: plans are data, not code. Enforcement never reads these directly; it reads the
-- per-tenant effective limits in `entitlements`, which the tenant controller (or the seed) writes.
CREATE TABLE plans (
  id text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9-]{1,30}$'),
  name text NOT NULL,
  rank integer NOT NULL UNIQUE,
  monthly_price_cents bigint NOT NULL CHECK (monthly_price_cents >= 0)
);

CREATE TABLE plan_meters (
  plan_id text NOT NULL REFERENCES plans ON DELETE CASCADE,
  meter text NOT NULL CHECK (meter IN ('quotes', 'bulk_jobs', 'directory_invites')),
  period text NOT NULL CHECK (period IN ('day', 'month')),
  included bigint NOT NULL CHECK (included >= 0),
  overage_allowed boolean NOT NULL,
  overage_unit_price_cents integer CHECK (overage_unit_price_cents >= 0),
  hard_ceiling bigint NOT NULL,
  PRIMARY KEY (plan_id, meter),
  CHECK (hard_ceiling >= included),
  CHECK (overage_allowed OR overage_unit_price_cents IS NULL)
);

CREATE TABLE plan_rate_limits (
  plan_id text PRIMARY KEY REFERENCES plans ON DELETE CASCADE,
  requests_per_second integer NOT NULL CHECK (requests_per_second > 0),
  burst integer NOT NULL CHECK (burst > 0),
  bulk_job_concurrency integer NOT NULL CHECK (bulk_job_concurrency > 0)
);

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name text NOT NULL,
  plan_id text NOT NULL REFERENCES plans,
  billing_status text NOT NULL DEFAULT 'active'
    CHECK (billing_status IN ('trialing', 'active', 'past_due', 'unpaid', 'canceled')),
  data_residency_region text,
  trial_ends_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  key_prefix text NOT NULL,
  key_hash bytea NOT NULL UNIQUE,
  label text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Effective limits per tenant and meter (plan + overrides), the only thing enforcement reads.
CREATE TABLE entitlements (
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  meter text NOT NULL CHECK (meter IN ('quotes', 'bulk_jobs', 'directory_invites')),
  period text NOT NULL CHECK (period IN ('day', 'month')),
  included bigint NOT NULL CHECK (included >= 0),
  overage_allowed boolean NOT NULL,
  overage_unit_price_cents integer CHECK (overage_unit_price_cents >= 0),
  hard_ceiling bigint NOT NULL,
  source text NOT NULL DEFAULT 'plan',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, meter),
  CHECK (hard_ceiling >= included),
  CHECK (overage_allowed OR overage_unit_price_cents IS NULL)
);

CREATE TABLE tenant_rate_limits (
  tenant_id uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
  requests_per_second integer NOT NULL CHECK (requests_per_second > 0),
  burst integer NOT NULL CHECK (burst > 0),
  bulk_job_concurrency integer NOT NULL CHECK (bulk_job_concurrency > 0),
  source text NOT NULL DEFAULT 'plan',
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE usage_counters (
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  meter text NOT NULL,
  period_start timestamptz NOT NULL,
  used bigint NOT NULL CHECK (used >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, meter, period_start)
);

-- One row per Idempotency-Key: the first answer is replayed on retry and the meter counts once.
CREATE TABLE idempotency_keys (
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  key text NOT NULL,
  route text NOT NULL,
  request_hash text NOT NULL,
  status_code integer,
  response jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);

CREATE TABLE quotes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  origin text NOT NULL,
  destination text NOT NULL,
  equipment text NOT NULL CHECK (equipment IN ('dry_van', 'reefer', 'flatbed')),
  weight_lbs integer NOT NULL CHECK (weight_lbs > 0),
  pickup_date date NOT NULL,
  distance_miles integer NOT NULL,
  linehaul_cents bigint NOT NULL,
  fuel_surcharge_cents bigint NOT NULL,
  margin_cents bigint NOT NULL,
  total_cents bigint NOT NULL,
  -- The factors the price was built from, so a quote explains itself after the pricing data moves on.
  breakdown json NOT NULL,
  pricing_version text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quotes_tenant_created ON quotes (tenant_id, created_at);

CREATE TABLE bookings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  quote_id uuid NOT NULL UNIQUE REFERENCES quotes ON DELETE CASCADE,
  total_cents bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The carrier directory is shared reference data; invites are the tenant's own.
CREATE TABLE carriers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  mc_number text NOT NULL UNIQUE,
  dot_number text NOT NULL UNIQUE,
  home_state text NOT NULL CHECK (home_state ~ '^[A-Z]{2}$'),
  equipment text[] NOT NULL,
  fleet_size integer NOT NULL CHECK (fleet_size > 0),
  safety_rating text NOT NULL CHECK (safety_rating IN ('satisfactory', 'conditional', 'unrated'))
);
CREATE INDEX carriers_name ON carriers (lower(name) text_pattern_ops);

CREATE TABLE carrier_invites (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  carrier_id uuid NOT NULL REFERENCES carriers,
  email text NOT NULL,
  status text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'accepted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  accepted_at timestamptz,
  UNIQUE (tenant_id, carrier_id)
);

CREATE TABLE limit_increase_requests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  meter text NOT NULL,
  requested_limit bigint NOT NULL CHECK (requested_limit > 0),
  reason text NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'granted', 'declined')),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Dedupe of the 80/90/100 % breach notifications: once per tenant, meter, threshold and period.
CREATE TABLE usage_warnings (
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  meter text NOT NULL,
  period_start timestamptz NOT NULL,
  threshold integer NOT NULL CHECK (threshold IN (80, 90, 100)),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, meter, period_start, threshold)
);

CREATE TABLE agent_tasks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  kind text NOT NULL,
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'running', 'success', 'failed', 'retrying')),
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 5,
  payload jsonb NOT NULL DEFAULT '{}',
  dedupe_key text UNIQUE,
  last_error text,
  run_after timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);
CREATE INDEX agent_tasks_created ON agent_tasks (created_at);
CREATE INDEX agent_tasks_runnable ON agent_tasks (run_after) WHERE status IN ('queued', 'retrying');

-- What a carrier finally invoiced against the rate we proposed.
CREATE TABLE invoices (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  booking_id uuid NOT NULL UNIQUE REFERENCES bookings ON DELETE CASCADE,
  actual_rate_cents bigint NOT NULL CHECK (actual_rate_cents >= 0),
  invoice_date date NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- security_invoker: the view is read with the caller's row-level security, never the owner's.
CREATE VIEW invoice_pricing_view WITH (security_invoker = true) AS
  SELECT i.id AS invoice_id,
         i.tenant_id,
         b.quote_id,
         i.invoice_date,
         q.equipment,
         q.origin,
         q.destination,
         q.total_cents / 100.0 AS proposed_rate,
         i.actual_rate_cents / 100.0 AS actual_rate
    FROM invoices i
    JOIN bookings b ON b.id = i.booking_id
    JOIN quotes q ON q.id = b.quote_id;

-- Row-level security on every tenant-owned table, here and in later migrations: FORCE'd (the owner
-- is bound too), the app sees only the tenant in context, ops reads everything. Other grants and
-- policies are each table's own.
CREATE FUNCTION protect_tenant_table(t regclass) RETURNS void
  LANGUAGE plpgsql
  AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
  EXECUTE format('CREATE POLICY tenant_isolation ON %s TO freight_app
                    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())', t);
  EXECUTE format('CREATE POLICY ops_read ON %s FOR SELECT TO freight_ops USING (true)', t);
  EXECUTE format('GRANT SELECT ON %s TO freight_ops', t);
END
$$;
REVOKE EXECUTE ON FUNCTION protect_tenant_table(regclass) FROM PUBLIC;

SELECT protect_tenant_table(t)
  FROM unnest(ARRAY['api_keys', 'entitlements', 'tenant_rate_limits', 'usage_counters', 'idempotency_keys',
                    'quotes', 'bookings', 'carrier_invites', 'limit_increase_requests', 'usage_warnings',
                    'agent_tasks', 'invoices']::regclass[]) AS t;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON api_keys, entitlements, tenant_rate_limits, usage_counters, idempotency_keys, quotes, bookings,
      carrier_invites, limit_increase_requests, usage_warnings, agent_tasks, invoices
   TO freight_app;

-- The tenant row itself: a tenant sees only itself.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants TO freight_app
  USING (id = current_tenant_id()) WITH CHECK (id = current_tenant_id());
CREATE POLICY ops_read ON tenants FOR SELECT TO freight_ops USING (true);
GRANT SELECT, INSERT, UPDATE ON tenants TO freight_app;
GRANT SELECT ON tenants TO freight_ops;

-- API key authentication happens before the tenant is known: a key row is visible to the app only
-- when the caller presents its hash (app.api_key_hash), so no session can list other tenants' keys.
CREATE POLICY key_lookup ON api_keys FOR SELECT TO freight_app
  USING (encode(key_hash, 'hex') = current_setting('app.api_key_hash', true));
CREATE POLICY key_lookup_tenant ON tenants FOR SELECT TO freight_app
  USING (EXISTS (SELECT 1 FROM api_keys k
                  WHERE k.tenant_id = tenants.id
                    AND encode(k.key_hash, 'hex') = current_setting('app.api_key_hash', true)));

-- The operators manage plans, limits and tenant lifecycle for all tenants.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenants', 'api_keys', 'entitlements', 'tenant_rate_limits', 'usage_counters',
                           'usage_warnings', 'agent_tasks', 'limit_increase_requests']
  LOOP
    EXECUTE format('CREATE POLICY platform_operator ON %I TO freight_operator USING (true) WITH CHECK (true)', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO freight_operator', t);
  END LOOP;
END $$;

GRANT SELECT ON plans, plan_meters, plan_rate_limits, carriers TO freight_app, freight_ops, freight_operator;
GRANT INSERT, UPDATE, DELETE ON plans, plan_meters, plan_rate_limits, carriers TO freight_operator;
GRANT SELECT ON invoice_pricing_view TO freight_app, freight_ops;
GRANT EXECUTE ON FUNCTION current_tenant_id() TO freight_app, freight_ops, freight_operator;
-- Readiness compares applied migrations with the build's.
GRANT SELECT ON pgmigrations TO freight_app, freight_ops, freight_operator;

-- Down Migration
DROP VIEW invoice_pricing_view;
DROP TABLE invoices, agent_tasks, usage_warnings, limit_increase_requests, carrier_invites, carriers, bookings,
  quotes, idempotency_keys, usage_counters, tenant_rate_limits, entitlements, api_keys, tenants,
  plan_rate_limits, plan_meters, plans;
DROP FUNCTION protect_tenant_table(regclass);
DROP FUNCTION current_tenant_id();
