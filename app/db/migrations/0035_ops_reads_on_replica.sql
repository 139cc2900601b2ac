-- Up Migration
-- freight_ops (dashboards, the executive report, the API's aggregate gauges, the evidence job, ops
-- queries) reads every tenant's rows, so it reads them only on the analytics replica, never on the
-- primary that serves the API. Enforced here, so it holds for whoever logs in and wherever a URL
-- points: PostgreSQL 15 has no login trigger and RDS has no pg_hba, so the guard runs at query time.
--
-- ops_reads_allowed() is true on a server in recovery (a replica) and raises on a primary unless the
-- one-row ops_guard says reads_on_primary. That switch is a table, not a setting: freight_ops can SET
-- any custom setting itself, but it cannot write this table (only its owner, the migrations' role,
-- can), and the row replicates, so the evidence reports what the replicas enforce. Test databases,
-- which have no replica, turn it on where they are provisioned (tools/postgres/provision.ts).
--
-- The guard is a RESTRICTIVE policy TO freight_ops on every table it can read (ops_on_replica): ANDed
-- with whatever permissive policy lets it read, so a policy added later cannot open the primary.
-- ops_reads_allowed() is declared IMMUTABLE although it reads the server's state, on purpose: the
-- planner never makes a policy qual a one-time filter (a STABLE guard is a per-row Filter, called for
-- every row and never on an empty table), but it folds an immutable call with no arguments while
-- planning. So the guard runs once per query, raises even on an empty table, and leaves nothing in
-- the plan. The price: a plan cached by a named prepared statement keeps its answer until the
-- session ends (RDS reboots a replica it promotes, which ends every session). Tables freight_ops reads by a plain grant (plans,
-- pgmigrations, the registers) get row-level security with one permissive policy TO PUBLIC that
-- passes every row, so for every other role the grants alone still decide, as before; not FORCE'd,
-- so the owner (migrations) is unaffected. Views freight_ops reads must be security_invoker, so the
-- guard of the tables under them applies to it; the migration refuses one that is not. Revoking the
-- grants and exposing views instead would have changed the name of every table ops queries, Grafana
-- panels and the report read.
CREATE TABLE ops_guard (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  -- On: freight_ops may read on a primary too. Only for a database without a replica (a test).
  reads_on_primary boolean NOT NULL DEFAULT false,
  changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ops_guard DEFAULT VALUES;
GRANT SELECT ON ops_guard TO freight_ops, freight_operator;

CREATE FUNCTION ops_reads_allowed() RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
  SET search_path = pg_catalog, public, pg_temp
  AS $$
BEGIN
  IF pg_catalog.pg_is_in_recovery() OR (SELECT g.reads_on_primary FROM public.ops_guard g) THEN
    RETURN true;
  END IF;
  RAISE EXCEPTION 'freight_ops reads only on the analytics replica, and this server is the primary; connect to the analytics replica instead'
    USING ERRCODE = '42501',
          DETAIL = 'ops_guard.reads_on_primary is off and pg_is_in_recovery() is false on this server.',
          HINT = 'Point OPS_DATABASE_URL (or the Grafana datasource) at the region''s analytics replica: in AWS the database''s analyticsReplicaAddress, on the local platform its streaming replica. A database with no replica (a test database) allows it with UPDATE ops_guard SET reads_on_primary = true, run as the schema owner.';
END
$$;
REVOKE EXECUTE ON FUNCTION ops_reads_allowed() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops_reads_allowed() TO freight_ops;

-- Puts a table freight_ops can read behind the guard; every migration that grants it a table calls it
-- (protect_tenant_table does, below).
CREATE FUNCTION guard_ops_reads(t regclass) RETURNS void
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = t) THEN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY granted_rows ON %s TO PUBLIC USING (true) WITH CHECK (true)', t);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t AND polname = 'ops_on_replica') THEN
    EXECUTE format('CREATE POLICY ops_on_replica ON %s AS RESTRICTIVE FOR SELECT TO freight_ops
                      USING (ops_reads_allowed())', t);
  END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION guard_ops_reads(regclass) FROM PUBLIC;

-- Same as 0006, and the tenant table is guarded like every table freight_ops reads.
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
  PERFORM guard_ops_reads(t);
END
$$;

DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS rel, c.relkind,
           coalesce(c.reloptions::text[] && ARRAY['security_invoker=true', 'security_invoker=on'], false) AS invoker
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
       AND c.relname <> 'ops_guard'
       AND has_any_column_privilege('freight_ops', c.oid, 'SELECT')
  LOOP
    IF r.relkind IN ('r', 'p') THEN
      PERFORM guard_ops_reads(r.rel);
    ELSIF r.relkind = 'm' OR NOT r.invoker THEN
      RAISE EXCEPTION 'freight_ops can read % with its owner''s rights, past the replica guard: make it a security_invoker view (ALTER VIEW % SET (security_invoker = true)) or revoke it', r.rel, r.rel;
    END IF;
  END LOOP;
END $$;

-- Down Migration
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT polrelid::regclass AS rel FROM pg_policy WHERE polname = 'ops_on_replica' LOOP
    EXECUTE format('DROP POLICY ops_on_replica ON %s', r.rel);
  END LOOP;
  FOR r IN SELECT polrelid::regclass AS rel FROM pg_policy WHERE polname = 'granted_rows' LOOP
    EXECUTE format('DROP POLICY granted_rows ON %s', r.rel);
    EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', r.rel);
  END LOOP;
END $$;
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
DROP FUNCTION guard_ops_reads(regclass);
DROP FUNCTION ops_reads_allowed();
DROP TABLE ops_guard;
