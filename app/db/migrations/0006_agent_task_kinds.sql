-- Up Migration
-- What the runner's agent-task handlers need beyond the queue itself:
--   billing_notice  the billing contact's address: recorded by the Stripe webhook from the customer's
--                   email (checkout, invoices), read by the runner in the tenant's context.
--   data_export     every tenant table readable by the runner in the tenant's context (now and for
--                   tables added later, through protect_tenant_table), and data_exports for the
--                   archives, which ops reads for offboarding and data subject requests.
--   billing_alert   queued by the runner too, when a notice cannot be delivered.
--   claims          a disabled (offboarded) tenant's agent tasks are claimed too: its export is one.
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
-- as the rows it copies; ops fetch it with `node app/ops/data-export.ts`.
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
-- A tenant's own archives only (tenant_isolation), e.g. for a future download route; the RLS probe reads it.
GRANT SELECT ON data_exports TO freight_app;

-- Follow-up alerts (an undeliverable billing notice); the dedupe key makes a repeat a no-op.
GRANT INSERT (tenant_id, kind, payload, dedupe_key) ON agent_tasks TO freight_runner;


-- Agent tasks of a disabled tenant still run: offboarding disables the tenant and queues its data
-- export in one transaction, and claims used to skip disabled tenants, so the export waited forever.
-- Such a tenant's tasks run within its last limits; its bulk jobs still stop (claim_bulk_jobs keeps
-- tenant_job_concurrency, which is NULL for a disabled tenant).
CREATE FUNCTION tenant_agent_concurrency(p_tenant uuid) RETURNS integer
  LANGUAGE sql STABLE
  AS $$
    SELECT coalesce(trl.bulk_job_concurrency, prl.bulk_job_concurrency)
      FROM tenants t
      LEFT JOIN tenant_rate_limits trl ON trl.tenant_id = t.id
      LEFT JOIN plan_rate_limits prl ON prl.plan_id = t.plan_id
     WHERE t.id = p_tenant
  $$;
REVOKE EXECUTE ON FUNCTION tenant_agent_concurrency(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenant_agent_concurrency(uuid) TO freight_runner;
CREATE OR REPLACE FUNCTION tenant_task_rate(p_tenant uuid) RETURNS integer
  LANGUAGE sql STABLE
  AS $$
    SELECT coalesce(trl.requests_per_second, prl.requests_per_second)
      FROM tenants t
      LEFT JOIN tenant_rate_limits trl ON trl.tenant_id = t.id
      LEFT JOIN plan_rate_limits prl ON prl.plan_id = t.plan_id
     WHERE t.id = p_tenant
  $$;
CREATE OR REPLACE FUNCTION claim_agent_tasks(p_owner text, p_max integer, p_lease_seconds integer)
RETURNS TABLE (id uuid, tenant_id uuid, kind text, payload jsonb, attempts integer, max_attempts integer,
               lease_token uuid, run_after timestamptz, created_at timestamptz)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  t record;
  v_running integer;
  v_recent integer;
  claimed integer := 0;
  claimed_before integer;
  skip uuid[] := '{}';
  r record;
BEGIN
  LOOP
    claimed_before := claimed;
    FOR t IN
      SELECT s.* FROM (
        SELECT w.tenant_id, tenant_agent_concurrency(w.tenant_id) AS concurrency,
               (SELECT count(*) FROM agent_tasks x WHERE x.tenant_id = w.tenant_id AND x.status = 'running') AS running,
               w.oldest
        FROM (SELECT a.tenant_id, min(a.run_after) AS oldest FROM agent_tasks a
               WHERE a.status IN ('queued', 'retrying') AND a.run_after <= now()
               GROUP BY a.tenant_id) w
       WHERE w.tenant_id <> ALL (skip)) s
       ORDER BY s.running::float / greatest(coalesce(s.concurrency, 1), 1), s.oldest
    LOOP
      EXIT WHEN claimed >= p_max;
      IF t.concurrency IS NULL OR t.running >= t.concurrency THEN
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      IF NOT pg_try_advisory_xact_lock(20260408, hashtext(t.tenant_id::text)) THEN
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      SELECT count(*) INTO v_running FROM agent_tasks x WHERE x.tenant_id = t.tenant_id AND x.status = 'running';
      SELECT count(*) INTO v_recent FROM agent_tasks x
       WHERE x.tenant_id = t.tenant_id AND x.started_at > now() - interval '1 second';
      IF v_running >= t.concurrency OR v_recent >= coalesce(tenant_task_rate(t.tenant_id), 0) THEN
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      FOR r IN
        UPDATE agent_tasks a
           SET status = 'running', attempts = a.attempts + 1, lease_token = gen_random_uuid(),
               lease_owner = p_owner, lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               started_at = now()
         WHERE a.id = (SELECT c.id FROM agent_tasks c
                        WHERE c.tenant_id = t.tenant_id AND c.status IN ('queued', 'retrying') AND c.run_after <= now()
                        ORDER BY c.run_after, c.created_at
                        LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING a.id, a.tenant_id, a.kind, a.payload, a.attempts, a.max_attempts, a.lease_token, a.run_after,
                  a.created_at
      LOOP
        claimed := claimed + 1;
        id := r.id; tenant_id := r.tenant_id; kind := r.kind; payload := r.payload; attempts := r.attempts;
        max_attempts := r.max_attempts; lease_token := r.lease_token; run_after := r.run_after;
        created_at := r.created_at;
        RETURN NEXT;
      END LOOP;
    END LOOP;
    EXIT WHEN claimed >= p_max OR claimed = claimed_before;
  END LOOP;
END
$$;

-- Down Migration
CREATE OR REPLACE FUNCTION tenant_task_rate(p_tenant uuid) RETURNS integer
  LANGUAGE sql STABLE
  AS $$
    SELECT coalesce(trl.requests_per_second, prl.requests_per_second)
      FROM tenants t
      LEFT JOIN tenant_rate_limits trl ON trl.tenant_id = t.id
      LEFT JOIN plan_rate_limits prl ON prl.plan_id = t.plan_id
     WHERE t.id = p_tenant AND t.disabled_at IS NULL
  $$;
CREATE OR REPLACE FUNCTION claim_agent_tasks(p_owner text, p_max integer, p_lease_seconds integer)
RETURNS TABLE (id uuid, tenant_id uuid, kind text, payload jsonb, attempts integer, max_attempts integer,
               lease_token uuid, run_after timestamptz, created_at timestamptz)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  t record;
  v_running integer;
  v_recent integer;
  claimed integer := 0;
  claimed_before integer;
  skip uuid[] := '{}';
  r record;
BEGIN
  LOOP
    claimed_before := claimed;
    FOR t IN
      SELECT s.* FROM (
        SELECT w.tenant_id, tenant_job_concurrency(w.tenant_id) AS concurrency,
               (SELECT count(*) FROM agent_tasks x WHERE x.tenant_id = w.tenant_id AND x.status = 'running') AS running,
               w.oldest
        FROM (SELECT a.tenant_id, min(a.run_after) AS oldest FROM agent_tasks a
               WHERE a.status IN ('queued', 'retrying') AND a.run_after <= now()
               GROUP BY a.tenant_id) w
       WHERE w.tenant_id <> ALL (skip)) s
       ORDER BY s.running::float / greatest(coalesce(s.concurrency, 1), 1), s.oldest
    LOOP
      EXIT WHEN claimed >= p_max;
      IF t.concurrency IS NULL OR t.running >= t.concurrency THEN
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      IF NOT pg_try_advisory_xact_lock(20260408, hashtext(t.tenant_id::text)) THEN
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      SELECT count(*) INTO v_running FROM agent_tasks x WHERE x.tenant_id = t.tenant_id AND x.status = 'running';
      SELECT count(*) INTO v_recent FROM agent_tasks x
       WHERE x.tenant_id = t.tenant_id AND x.started_at > now() - interval '1 second';
      IF v_running >= t.concurrency OR v_recent >= coalesce(tenant_task_rate(t.tenant_id), 0) THEN
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      FOR r IN
        UPDATE agent_tasks a
           SET status = 'running', attempts = a.attempts + 1, lease_token = gen_random_uuid(),
               lease_owner = p_owner, lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               started_at = now()
         WHERE a.id = (SELECT c.id FROM agent_tasks c
                        WHERE c.tenant_id = t.tenant_id AND c.status IN ('queued', 'retrying') AND c.run_after <= now()
                        ORDER BY c.run_after, c.created_at
                        LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING a.id, a.tenant_id, a.kind, a.payload, a.attempts, a.max_attempts, a.lease_token, a.run_after,
                  a.created_at
      LOOP
        claimed := claimed + 1;
        id := r.id; tenant_id := r.tenant_id; kind := r.kind; payload := r.payload; attempts := r.attempts;
        max_attempts := r.max_attempts; lease_token := r.lease_token; run_after := r.run_after;
        created_at := r.created_at;
        RETURN NEXT;
      END LOOP;
    END LOOP;
    EXIT WHEN claimed >= p_max OR claimed = claimed_before;
  END LOOP;
END
$$;
DROP FUNCTION tenant_agent_concurrency(uuid);
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
