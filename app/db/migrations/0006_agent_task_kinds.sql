-- Up Migration
-- What the runner's agent-task handlers need beyond the queue itself:
--   billing_notice  the billing contact's address: recorded by the Stripe webhook from the customer's
--                   email (checkout, invoices), read by the runner in the tenant's context.
--   data_export     every tenant table readable by the runner in the tenant's context (now and for
--                   tables added later, through protect_tenant_table), and data_exports for the
--                   archives, which ops reads for offboarding and data subject requests.
--   billing_alert   queued by the runner too, when a notice cannot be delivered.
-- Nothing here lets a runner see a tenant other than the one whose task it works: every new policy
-- keys on current_tenant_id(), which the runner sets per task.

ALTER TABLE billing_accounts ADD COLUMN billing_email text;

-- Same as 0001 plus the export read: a tenant table nobody can export would silently be left out of
-- an offboarded tenant's archive.
CREATE OR REPLACE FUNCTION protect_tenant_table(t regclass) RETURNS void
  LANGUAGE plpgsql
  AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
  EXECUTE format('CREATE POLICY tenant_isolation ON %s TO freight_app
                    USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id())', t);
  EXECUTE format('CREATE POLICY ops_read ON %s FOR SELECT TO freight_ops USING (true)', t);
  EXECUTE format('GRANT SELECT ON %s TO freight_ops', t);
  EXECUTE format('CREATE POLICY runner_export ON %s FOR SELECT TO freight_runner
                    USING (tenant_id = current_tenant_id())', t);
  EXECUTE format('GRANT SELECT ON %s TO freight_runner', t);
END
$$;
REVOKE EXECUTE ON FUNCTION protect_tenant_table(regclass) FROM PUBLIC;

-- The tables protected before this migration get the export read too.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT DISTINCT p.polrelid::regclass FROM pg_policy p WHERE p.polname = 'tenant_isolation'
             AND p.polrelid <> 'tenants'::regclass
  LOOP
    EXECUTE format('CREATE POLICY runner_export ON %s FOR SELECT TO freight_runner
                      USING (tenant_id = current_tenant_id())', t);
    EXECUTE format('GRANT SELECT ON %s TO freight_runner', t);
  END LOOP;
END $$;

-- An API key's hash verifies a live credential; it is not the customer's data and stays out of exports.
REVOKE SELECT ON api_keys FROM freight_runner;
GRANT SELECT (id, tenant_id, key_prefix, label, created_at, disabled_at) ON api_keys TO freight_runner;

-- One archive per data_export task: gzip'd JSON Lines, a header line then one line per row
-- ({"table": ..., "row": {...}}), read in one REPEATABLE READ snapshot. Kept in the database rather
-- than the documents bucket so it is under the same tenant isolation, backups and region failover
-- as the rows it copies; ops fetches it with `npm run data-export`.
CREATE TABLE data_exports (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  -- The task that produced it: a retried task finds its archive and does not export twice.
  task_id uuid NOT NULL UNIQUE,
  tenant_slug text NOT NULL,
  reason text NOT NULL,
  format text NOT NULL DEFAULT 'jsonl+gzip' CHECK (format = 'jsonl+gzip'),
  archive bytea NOT NULL,
  bytes integer NOT NULL CHECK (bytes > 0),
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  -- Rows per table, and the columns left out (a table's name -> its omitted columns).
  row_counts jsonb NOT NULL,
  omitted_columns jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_exports_tenant ON data_exports (tenant_id, created_at);
SELECT protect_tenant_table('data_exports');
CREATE POLICY runner_write ON data_exports FOR INSERT TO freight_runner
  WITH CHECK (tenant_id = current_tenant_id());
GRANT INSERT ON data_exports TO freight_runner;

-- Follow-up alerts (an undeliverable billing notice); the dedupe key makes a repeat a no-op.
GRANT INSERT (tenant_id, kind, payload, dedupe_key) ON agent_tasks TO freight_runner;

-- Down Migration
REVOKE INSERT (tenant_id, kind, payload, dedupe_key) ON agent_tasks FROM freight_runner;
DROP TABLE data_exports;
REVOKE SELECT (id, tenant_id, key_prefix, label, created_at, disabled_at) ON api_keys FROM freight_runner;
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT p.polrelid::regclass FROM pg_policy p WHERE p.polname = 'runner_export'
  LOOP
    EXECUTE format('DROP POLICY runner_export ON %s', t);
    EXECUTE format('REVOKE SELECT ON %s FROM freight_runner', t);
  END LOOP;
END $$;
-- What 0004 granted the runner on its own tables comes back.
GRANT SELECT ON jobs, agent_tasks, bulk_job_lanes, tenant_rate_limits TO freight_runner;
CREATE OR REPLACE FUNCTION protect_tenant_table(t regclass) RETURNS void
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
ALTER TABLE billing_accounts DROP COLUMN billing_email;
