-- Up Migration
-- Background work: bulk rating jobs (a queue of their own) and agent tasks, worked through by runner
-- processes. A claim is a lease: the runner holds a random lease token and a deadline it keeps moving
-- while it works; every write a runner makes is guarded by its token, so a runner that lost its lease
-- (killed, partitioned, too slow) cannot double an effect. Expired leases go back to the queue.
--
-- The runners connect as freight_runner (created by app/db/bootstrap.ts): it claims across tenants
-- from the two queue tables only, and writes a job's lane results in that job's tenant context.

-- One row per bulk rating job: the queue entry and the job's progress in one place.
CREATE TABLE jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  kind text NOT NULL DEFAULT 'bulk_rating' CHECK (kind IN ('bulk_rating')),
  state text NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'running', 'retrying', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
  run_after timestamptz NOT NULL DEFAULT now(),
  lease_token uuid,
  lease_owner text,
  lease_expires_at timestamptz,
  source text NOT NULL CHECK (source IN ('json', 'csv')),
  lanes_total integer NOT NULL CHECK (lanes_total > 0),
  -- Counted in the same transaction that writes each lane's result: a double write would show here.
  lanes_priced integer NOT NULL DEFAULT 0 CHECK (lanes_priced >= 0),
  lanes_invalid integer NOT NULL DEFAULT 0 CHECK (lanes_invalid >= 0),
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  CHECK (lanes_priced + lanes_invalid <= lanes_total),
  CHECK ((state = 'running') = (lease_token IS NOT NULL))
);
CREATE INDEX jobs_runnable ON jobs (tenant_id, run_after) WHERE state IN ('queued', 'retrying');
CREATE INDEX jobs_running ON jobs (tenant_id) WHERE state = 'running';
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at);

-- A job's lanes as uploaded (input kept verbatim, so a bad row is reported as the customer sent it)
-- and each lane's result, written once.
CREATE TABLE bulk_job_lanes (
  job_id uuid NOT NULL REFERENCES jobs ON DELETE CASCADE,
  row_number integer NOT NULL CHECK (row_number > 0),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  input jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'priced', 'invalid')),
  result jsonb,
  errors jsonb,
  priced_attempt integer,
  PRIMARY KEY (job_id, row_number)
);
CREATE INDEX bulk_job_lanes_pending ON bulk_job_lanes (job_id, row_number) WHERE status = 'pending';

-- Agent tasks are leased the same way.
ALTER TABLE agent_tasks
  ADD COLUMN lease_token uuid,
  ADD COLUMN lease_owner text,
  ADD COLUMN lease_expires_at timestamptz;
CREATE INDEX agent_tasks_tenant_runnable ON agent_tasks (tenant_id, run_after) WHERE status IN ('queued', 'retrying');
CREATE INDEX agent_tasks_running ON agent_tasks (tenant_id) WHERE status = 'running';
CREATE INDEX agent_tasks_tenant_started ON agent_tasks (tenant_id, started_at);

-- What each runner process says about itself; the failover controller reads it to know that
-- background work is drained (app/jobs/drain.ts). Not tenant data.
CREATE TABLE runner_heartbeats (
  runner_id text PRIMARY KEY,
  region text NOT NULL,
  state text NOT NULL CHECK (state IN ('running', 'draining', 'drained', 'paused')),
  in_flight integer NOT NULL DEFAULT 0 CHECK (in_flight >= 0),
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runner_heartbeats_region ON runner_heartbeats (region, updated_at);

-- Row-level security: the app and ops as for every tenant table.
SELECT protect_tenant_table(t) FROM unnest(ARRAY['jobs', 'bulk_job_lanes']::regclass[]) AS t;
GRANT SELECT, INSERT ON jobs, bulk_job_lanes TO freight_app;

-- The runners: claim and settle across tenants on the queue tables (no inserts, no deletes, and the
-- tenant of a row never changes); lane results only in the tenant context of the job being worked.
CREATE POLICY runner_queue ON jobs TO freight_runner USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE (state, attempts, run_after, lease_token, lease_owner, lease_expires_at, lanes_priced,
                      lanes_invalid, last_error, started_at, finished_at) ON jobs TO freight_runner;
CREATE POLICY runner_queue ON agent_tasks TO freight_runner USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE (status, attempts, run_after, lease_token, lease_owner, lease_expires_at, last_error,
                      started_at, finished_at) ON agent_tasks TO freight_runner;
CREATE POLICY runner_tenant ON bulk_job_lanes TO freight_runner
  USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, UPDATE (status, result, errors, priced_attempt) ON bulk_job_lanes TO freight_runner;
-- Per-tenant fairness reads each tenant's effective limits (plan defaults when the controller wrote none).
CREATE POLICY runner_limits ON tenants FOR SELECT TO freight_runner USING (true);
CREATE POLICY runner_limits ON tenant_rate_limits FOR SELECT TO freight_runner USING (true);
GRANT SELECT ON tenants, tenant_rate_limits TO freight_runner;
GRANT SELECT ON plan_rate_limits, region_routing TO freight_runner;
GRANT SELECT, INSERT, UPDATE, DELETE ON runner_heartbeats TO freight_runner;
GRANT EXECUTE ON FUNCTION current_tenant_id() TO freight_runner;
GRANT SELECT ON pgmigrations TO freight_runner;

-- The failover controller (operator role) and ops read runner state and leases to know "drained".
GRANT SELECT ON runner_heartbeats TO freight_operator, freight_ops;
CREATE POLICY operator_read ON jobs FOR SELECT TO freight_operator USING (true);
GRANT SELECT ON jobs TO freight_operator;

-- Effective bulk_job_concurrency per tenant: the rate-limit controller's figure, else the plan's.
CREATE FUNCTION tenant_job_concurrency(p_tenant uuid) RETURNS integer
  LANGUAGE sql STABLE
  AS $$
    SELECT coalesce(trl.bulk_job_concurrency, prl.bulk_job_concurrency)
      FROM tenants t
      LEFT JOIN tenant_rate_limits trl ON trl.tenant_id = t.id
      LEFT JOIN plan_rate_limits prl ON prl.plan_id = t.plan_id
     WHERE t.id = p_tenant AND t.disabled_at IS NULL
  $$;

-- Claims up to p_max runnable bulk jobs for runner p_owner. Tenants are served round-robin, the
-- least-served first (fewest running relative to their limit, then the longest-waiting job), one job
-- per tenant per pass, so a tenant with ten times the backlog does not push a small tenant back.
-- A tenant never runs more than its concurrency across all runners: the per-tenant advisory lock makes
-- claimers of one tenant take turns, and the running count is re-read under it.
CREATE FUNCTION claim_bulk_jobs(p_owner text, p_max integer, p_lease_seconds integer)
RETURNS TABLE (id uuid, tenant_id uuid, attempts integer, max_attempts integer, lease_token uuid,
               lanes_total integer, run_after timestamptz, created_at timestamptz)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  t record;
  v_running integer;
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
               (SELECT count(*) FROM jobs x WHERE x.tenant_id = w.tenant_id AND x.state = 'running') AS running,
               w.oldest
        FROM (SELECT j.tenant_id, min(j.run_after) AS oldest FROM jobs j
               WHERE j.state IN ('queued', 'retrying') AND j.run_after <= now()
               GROUP BY j.tenant_id) w
       WHERE w.tenant_id <> ALL (skip)) s
       ORDER BY s.running::float / greatest(coalesce(s.concurrency, 1), 1), s.oldest
    LOOP
      EXIT WHEN claimed >= p_max;
      IF t.concurrency IS NULL OR t.running >= t.concurrency THEN
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      IF NOT pg_try_advisory_xact_lock(20260407, hashtext(t.tenant_id::text)) THEN
        -- Another runner is claiming for this tenant right now; it gets this turn.
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      SELECT count(*) INTO v_running FROM jobs x WHERE x.tenant_id = t.tenant_id AND x.state = 'running';
      IF v_running >= t.concurrency THEN
        skip := skip || t.tenant_id;
        CONTINUE;
      END IF;
      FOR r IN
        UPDATE jobs j
           SET state = 'running', attempts = j.attempts + 1, lease_token = gen_random_uuid(),
               lease_owner = p_owner, lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               started_at = coalesce(j.started_at, now())
         WHERE j.id = (SELECT c.id FROM jobs c
                        WHERE c.tenant_id = t.tenant_id AND c.state IN ('queued', 'retrying') AND c.run_after <= now()
                        ORDER BY c.run_after, c.created_at
                        LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING j.id, j.tenant_id, j.attempts, j.max_attempts, j.lease_token, j.lanes_total, j.run_after,
                  j.created_at
      LOOP
        claimed := claimed + 1;
        id := r.id; tenant_id := r.tenant_id; attempts := r.attempts; max_attempts := r.max_attempts;
        lease_token := r.lease_token; lanes_total := r.lanes_total; run_after := r.run_after;
        created_at := r.created_at;
        RETURN NEXT;
      END LOOP;
    END LOOP;
    EXIT WHEN claimed >= p_max OR claimed = claimed_before;
  END LOOP;
END
$$;

-- Effective start rate per tenant for agent tasks: its requests_per_second (controller's, else the
-- plan's) as task attempts started per second, so an automation retrying in a loop is held to its rate.
CREATE FUNCTION tenant_task_rate(p_tenant uuid) RETURNS integer
  LANGUAGE sql STABLE
  AS $$
    SELECT coalesce(trl.requests_per_second, prl.requests_per_second)
      FROM tenants t
      LEFT JOIN tenant_rate_limits trl ON trl.tenant_id = t.id
      LEFT JOIN plan_rate_limits prl ON prl.plan_id = t.plan_id
     WHERE t.id = p_tenant AND t.disabled_at IS NULL
  $$;

-- The same for agent tasks, with the same per-tenant concurrency, and the tenant's start rate.
CREATE FUNCTION claim_agent_tasks(p_owner text, p_max integer, p_lease_seconds integer)
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

REVOKE EXECUTE ON FUNCTION claim_bulk_jobs(text, integer, integer), claim_agent_tasks(text, integer, integer),
  tenant_job_concurrency(uuid), tenant_task_rate(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_bulk_jobs(text, integer, integer), claim_agent_tasks(text, integer, integer),
  tenant_job_concurrency(uuid), tenant_task_rate(uuid) TO freight_runner;

-- Down Migration
DROP FUNCTION claim_agent_tasks(text, integer, integer);
DROP FUNCTION claim_bulk_jobs(text, integer, integer);
DROP FUNCTION tenant_task_rate(uuid);
DROP FUNCTION tenant_job_concurrency(uuid);
DROP TABLE runner_heartbeats;
DROP INDEX agent_tasks_tenant_started;
DROP INDEX agent_tasks_running;
DROP INDEX agent_tasks_tenant_runnable;
ALTER TABLE agent_tasks DROP COLUMN lease_token, DROP COLUMN lease_owner, DROP COLUMN lease_expires_at;
REVOKE SELECT ON tenants, tenant_rate_limits, plan_rate_limits, region_routing, pgmigrations FROM freight_runner;
REVOKE EXECUTE ON FUNCTION current_tenant_id() FROM freight_runner;
DROP POLICY runner_limits ON tenant_rate_limits;
DROP POLICY runner_limits ON tenants;
DROP POLICY runner_queue ON agent_tasks;
DROP TABLE bulk_job_lanes, jobs;
