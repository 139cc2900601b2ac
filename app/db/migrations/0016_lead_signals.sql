-- Up Migration
-- Lead signals (app/growth/lead-signals.ts): the scheduled job (freight_operator) finds trial and
-- paying tenants that crossed >= 3 quotes or >= 2 bulk jobs within 72 hours, in one set-based
-- statement, and records one signal per tenant per 72-hour window with its evidence. The row is also
-- the outbox entry the same job delivers to the CRM webhook: its idempotency key goes with every
-- attempt, it is marked delivered only after the CRM acknowledged it, and failed attempts back off.

-- The job reads the last 72 hours of every tenant's quotes and bulk jobs: a range scan on creation
-- time that carries the tenant, instead of one probe per tenant.
-- migration-check: accept blocking index on quotes: the runner applies migrations in one transaction, where CONCURRENTLY cannot run; the build is one sequential pass during the release Job
-- migration-check: accept blocking index on jobs: as for quotes; the partial index covers bulk-rating jobs only
CREATE INDEX quotes_created_tenant ON quotes (created_at, tenant_id);
CREATE INDEX jobs_created_tenant ON jobs (created_at, tenant_id) WHERE kind = 'bulk_rating';
CREATE POLICY lead_signals_read ON jobs FOR SELECT TO freight_operator USING (true);
GRANT SELECT (tenant_id, kind, created_at) ON jobs TO freight_operator;

CREATE TABLE lead_signals (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  -- The 72-hour window the evidence was counted in: one signal per tenant per window.
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  reason text NOT NULL CHECK (reason IN ('quotes', 'bulk_jobs', 'quotes_and_bulk_jobs')),
  quotes integer NOT NULL CHECK (quotes >= 0),
  bulk_jobs integer NOT NULL CHECK (bulk_jobs >= 0),
  first_event_at timestamptz NOT NULL,
  last_event_at timestamptz NOT NULL,
  plan_id text NOT NULL,
  billing_status text NOT NULL,
  -- What the CRM deduplicates on: the same signal is always sent with the same key.
  idempotency_key text NOT NULL UNIQUE,
  detected_at timestamptz NOT NULL DEFAULT now(),
  -- Outbox: pending until the CRM answered 2xx once.
  delivery_state text NOT NULL DEFAULT 'pending' CHECK (delivery_state IN ('pending', 'delivered')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  delivered_at timestamptz,
  CHECK (window_end > window_start),
  CHECK ((delivery_state = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX lead_signals_tenant_detected ON lead_signals (tenant_id, detected_at);
CREATE INDEX lead_signals_pending ON lead_signals (next_attempt_at) WHERE delivery_state = 'pending';
SELECT protect_tenant_table('lead_signals');
CREATE POLICY lead_signals_job ON lead_signals TO freight_operator USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON lead_signals TO freight_operator;

-- Down Migration
DROP TABLE lead_signals;
REVOKE SELECT (tenant_id, kind, created_at) ON jobs FROM freight_operator;
DROP POLICY lead_signals_read ON jobs;
DROP INDEX jobs_created_tenant;
DROP INDEX quotes_created_tenant;
