-- Up Migration
-- Data subject requests (access and erasure, for one end user of a tenant or for the whole tenant)
-- and the pen-test findings register. See docs/data-subject-requests.md.
--
--   dsr_requests    one row per request; its status moves received -> verified -> in_progress ->
--                   completed, or to denied; due 7 days after receipt. The subject is kept as a
--                   salted hash (subject_hash) and, until the request is done, as given (subject_ref).
--   dsr_events      the request's history: append-only (no UPDATE/DELETE grant, and a trigger refuses
--                   both even to the owner), so a completed erasure's record cannot be rewritten.
--   dsr_bundles     an access request's export bundle (tar.gz: JSON per table, documents, manifest).
--   dsr_export_links  the signed, expiring links to a bundle (only the token's hash is stored).
--   dsr_tombstones  the hashed identifiers of erased subjects: a re-import of one is refused.
--   pen_test_findings  findings with severity, found date and a fix due 14 days later.
--
-- Who does what: the API (freight_app) receives and verifies its own tenant's requests and serves
-- the links; ops (freight_operator, `npm run dsr`) receives, verifies and denies for any tenant and
-- keeps the findings register; the runner (freight_runner) fulfils verified requests (dsr_fulfil
-- agent tasks) in the tenant's row-security context: it reads every tenant table already (0006) and
-- gets here exactly the erasure plan's deletes and column updates (app/compliance/dsr/plan.ts).
-- freight_ops reads all of it for the evidence report.

CREATE TABLE dsr_requests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('access', 'erasure')),
  scope text NOT NULL CHECK (scope IN ('tenant', 'subject')),
  -- sha256(tenant id ':' identifier) in hex, identifier = 'email:<lower-case address>' or 'id:<id>';
  -- for a tenant-scope request, 'tenant:<tenant id>'.
  subject_hash text NOT NULL CHECK (subject_hash ~ '^[0-9a-f]{64}$'),
  subject_ref text CHECK (length(subject_ref) BETWEEN 1 AND 320),
  status text NOT NULL DEFAULT 'received'
    CHECK (status IN ('received', 'verified', 'in_progress', 'completed', 'denied')),
  requested_by text NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 200),
  received_at timestamptz NOT NULL DEFAULT now(),
  -- Seven days after receipt; the default keeps a writer (or the RLS probe) from having to restate it.
  due_at timestamptz NOT NULL DEFAULT now() + interval '168 hours',
  verified_at timestamptz,
  verified_by text,
  started_at timestamptz,
  completed_at timestamptz,
  denied_at timestamptz,
  deny_reason text,
  -- What fulfilment found: rows per table exported or erased, the scan's result, bundle size.
  outcome jsonb,
  CHECK (due_at = received_at + interval '168 hours'),
  CHECK ((status = 'denied') = (denied_at IS NOT NULL)),
  CHECK (status <> 'denied' OR deny_reason IS NOT NULL),
  CHECK (status NOT IN ('verified', 'in_progress', 'completed') OR verified_at IS NOT NULL),
  CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
  CHECK (scope = 'tenant' OR status IN ('completed', 'denied') OR subject_ref IS NOT NULL)
);
CREATE INDEX dsr_requests_tenant ON dsr_requests (tenant_id, received_at);
CREATE INDEX dsr_requests_open ON dsr_requests (due_at) WHERE status IN ('received', 'verified', 'in_progress');
-- A subject is erased once: a second erasure request is refused while the first stands.
CREATE UNIQUE INDEX dsr_requests_one_erasure ON dsr_requests (tenant_id, subject_hash)
  WHERE kind = 'erasure' AND status <> 'denied';

CREATE TABLE dsr_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id uuid NOT NULL REFERENCES dsr_requests ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  event text NOT NULL CHECK (event IN ('received', 'verified', 'in_progress', 'completed', 'denied', 'link_issued', 'link_used')),
  actor text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}',
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX dsr_events_request ON dsr_events (request_id, id);
CREATE FUNCTION dsr_events_append_only() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'dsr_events is an append-only log: % is not allowed; record a new event instead', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER dsr_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON dsr_events
  FOR EACH STATEMENT EXECUTE FUNCTION dsr_events_append_only();

CREATE TABLE dsr_bundles (
  request_id uuid PRIMARY KEY REFERENCES dsr_requests ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  format text NOT NULL DEFAULT 'tar+gzip' CHECK (format = 'tar+gzip'),
  archive bytea NOT NULL,
  bytes integer NOT NULL CHECK (bytes > 0),
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  manifest jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dsr_export_links (
  token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  request_id uuid NOT NULL REFERENCES dsr_requests ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dsr_export_links_request ON dsr_export_links (request_id);

CREATE TABLE dsr_tombstones (
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  subject_hash text NOT NULL CHECK (subject_hash ~ '^[0-9a-f]{64}$'),
  request_id uuid NOT NULL REFERENCES dsr_requests,
  erased_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, subject_hash)
);

SELECT protect_tenant_table(t)
  FROM unnest(ARRAY['dsr_requests', 'dsr_events', 'dsr_bundles', 'dsr_export_links', 'dsr_tombstones']::regclass[]) AS t;
-- A tenant's data export carries its requests and their history, not the bundles or link hashes.
REVOKE SELECT ON dsr_bundles, dsr_export_links FROM freight_runner;
DROP POLICY runner_export ON dsr_bundles;
DROP POLICY runner_export ON dsr_export_links;
REVOKE SELECT ON dsr_bundles FROM freight_ops;
GRANT SELECT (request_id, tenant_id, format, bytes, sha256, manifest, created_at) ON dsr_bundles TO freight_ops;

-- The API, in its tenant's context (tenant_isolation).
GRANT SELECT, INSERT ON dsr_requests, dsr_events, dsr_export_links TO freight_app;
GRANT UPDATE (status, verified_at, verified_by, denied_at, deny_reason) ON dsr_requests TO freight_app;
GRANT SELECT ON dsr_bundles, dsr_tombstones TO freight_app;

-- Ops, for every tenant.
CREATE POLICY platform_operator ON dsr_requests TO freight_operator USING (true) WITH CHECK (true);
CREATE POLICY platform_operator ON dsr_events TO freight_operator USING (true) WITH CHECK (true);
CREATE POLICY platform_operator ON dsr_tombstones FOR SELECT TO freight_operator USING (true);
CREATE POLICY platform_operator ON dsr_bundles FOR SELECT TO freight_operator USING (true);
GRANT SELECT, INSERT ON dsr_requests, dsr_events TO freight_operator;
GRANT UPDATE (status, verified_at, verified_by, denied_at, deny_reason) ON dsr_requests TO freight_operator;
GRANT SELECT ON dsr_tombstones, dsr_bundles TO freight_operator;
-- The drill's subject lives in the drill tenant's carrier invites, seeded by the drill itself.
CREATE POLICY dsr_drill ON carrier_invites FOR ALL TO freight_operator
  USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
GRANT SELECT, INSERT ON carrier_invites TO freight_operator;

-- Receiving a request checks the tenant holds data about the subject (a request naming another
-- tenant's subject is refused): ops may look up the plan's identifying columns, one tenant at a time.
CREATE POLICY dsr_lookup ON sso_sessions FOR SELECT TO freight_operator USING (tenant_id = current_tenant_id());
CREATE POLICY dsr_lookup ON signups FOR SELECT TO freight_operator USING (tenant_id = current_tenant_id());
CREATE POLICY dsr_lookup ON billing_accounts FOR SELECT TO freight_operator USING (tenant_id = current_tenant_id());
GRANT SELECT (tenant_id, subject, email) ON sso_sessions TO freight_operator;
GRANT SELECT (tenant_id, email) ON signups TO freight_operator;
GRANT SELECT (tenant_id, billing_email) ON billing_accounts TO freight_operator;

-- The runner fulfils, in the tenant's context: request state, history, bundles, tombstones...
CREATE POLICY runner_fulfil ON dsr_requests FOR UPDATE TO freight_runner
  USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY runner_fulfil ON dsr_events FOR INSERT TO freight_runner WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY runner_fulfil ON dsr_bundles TO freight_runner
  USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY runner_fulfil ON dsr_tombstones FOR INSERT TO freight_runner WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY runner_fulfil_insert ON dsr_requests FOR INSERT TO freight_runner WITH CHECK (tenant_id = current_tenant_id());
GRANT INSERT ON dsr_requests, dsr_events, dsr_tombstones TO freight_runner;
GRANT UPDATE (status, verified_at, verified_by, started_at, completed_at, subject_ref, outcome) ON dsr_requests TO freight_runner;
GRANT SELECT (request_id, tenant_id, bytes, sha256, manifest, created_at), INSERT ON dsr_bundles TO freight_runner;

-- ...and exactly the erasure plan's writes (app/compliance/dsr/plan.ts; its test checks they match).
CREATE POLICY dsr_erasure ON carrier_invites FOR DELETE TO freight_runner USING (tenant_id = current_tenant_id());
CREATE POLICY dsr_erasure ON sso_sessions FOR DELETE TO freight_runner USING (tenant_id = current_tenant_id());
CREATE POLICY dsr_erasure ON signups FOR UPDATE TO freight_runner
  USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY dsr_erasure ON billing_accounts FOR UPDATE TO freight_runner
  USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY dsr_erasure ON limit_increase_requests FOR UPDATE TO freight_runner
  USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY dsr_erasure ON documents FOR UPDATE TO freight_runner
  USING (tenant_id = current_tenant_id()) WITH CHECK (tenant_id = current_tenant_id());
CREATE POLICY dsr_erasure ON tenants FOR UPDATE TO freight_runner
  USING (id = current_tenant_id()) WITH CHECK (id = current_tenant_id());
GRANT DELETE ON carrier_invites, sso_sessions TO freight_runner;
GRANT UPDATE (email) ON signups TO freight_runner;
GRANT UPDATE (billing_email) ON billing_accounts TO freight_runner;
GRANT UPDATE (reason) ON limit_increase_requests TO freight_runner;
GRANT UPDATE (file_name, state, deleted_at) ON documents TO freight_runner;
GRANT UPDATE (name) ON tenants TO freight_runner;

-- A tombstoned subject is not brought back by an import: the tables an end user's address or id
-- arrives in refuse it, whoever writes (the hash is the one app/compliance/dsr/subject.ts computes).
CREATE FUNCTION dsr_subject_hash(p_tenant uuid, p_identifier text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT encode(sha256(convert_to(p_tenant::text || ':' || p_identifier, 'UTF8')), 'hex') $$;
CREATE FUNCTION dsr_refuse_erased_subject() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  identifiers text[] := '{}';
  found record;
BEGIN
  IF TG_TABLE_NAME = 'carrier_invites' THEN
    identifiers := ARRAY['email:' || lower(NEW.email)];
  ELSIF TG_TABLE_NAME = 'sso_sessions' THEN
    identifiers := ARRAY['id:' || NEW.subject] || CASE WHEN NEW.email IS NULL THEN '{}'::text[] ELSE ARRAY['email:' || lower(NEW.email)] END;
  END IF;
  SELECT t.request_id, t.erased_at INTO found FROM dsr_tombstones t
   WHERE t.tenant_id = NEW.tenant_id
     AND t.subject_hash IN (SELECT dsr_subject_hash(NEW.tenant_id, i) FROM unnest(identifiers) AS i)
   LIMIT 1;
  IF found IS NOT NULL THEN
    RAISE EXCEPTION 'this person''s data was erased on % (data subject request %): it is not recorded again',
      to_char(found.erased_at, 'YYYY-MM-DD'), found.request_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'dsr_tombstone', HINT = 'use another contact, or ask the person to contact you anew';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER dsr_refuse_erased_subject BEFORE INSERT OR UPDATE ON carrier_invites
  FOR EACH ROW EXECUTE FUNCTION dsr_refuse_erased_subject();
CREATE TRIGGER dsr_refuse_erased_subject BEFORE INSERT ON sso_sessions
  FOR EACH ROW EXECUTE FUNCTION dsr_refuse_erased_subject();

-- The pen-test findings register: platform data, not a tenant's. Ops keeps it; the evidence reads it.
CREATE TABLE pen_test_findings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- The tester's reference (e.g. PT-2026-014): one finding is recorded once.
  reference text NOT NULL UNIQUE CHECK (length(reference) BETWEEN 1 AND 100),
  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  severity text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'informational')),
  found_on date NOT NULL,
  -- The fix SLA: 14 days from the day it was found, whatever the severity.
  fix_due_on date GENERATED ALWAYS AS (found_on + 14) STORED,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  recorded_by text NOT NULL,
  closed_on date,
  closed_by text,
  resolution text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'closed') = (closed_on IS NOT NULL AND closed_by IS NOT NULL AND resolution IS NOT NULL)),
  CHECK (closed_on IS NULL OR closed_on >= found_on)
);
CREATE INDEX pen_test_findings_open ON pen_test_findings (found_on) WHERE status = 'open';
GRANT SELECT, INSERT ON pen_test_findings TO freight_operator;
GRANT UPDATE (status, closed_on, closed_by, resolution) ON pen_test_findings TO freight_operator;
GRANT SELECT ON pen_test_findings TO freight_ops;

-- Down Migration
DROP TABLE pen_test_findings;
DROP TRIGGER dsr_refuse_erased_subject ON sso_sessions;
DROP TRIGGER dsr_refuse_erased_subject ON carrier_invites;
DROP FUNCTION dsr_refuse_erased_subject();
DROP FUNCTION dsr_subject_hash(uuid, text);
REVOKE UPDATE (name) ON tenants FROM freight_runner;
REVOKE UPDATE (file_name, state, deleted_at) ON documents FROM freight_runner;
REVOKE UPDATE (reason) ON limit_increase_requests FROM freight_runner;
REVOKE UPDATE (billing_email) ON billing_accounts FROM freight_runner;
REVOKE UPDATE (email) ON signups FROM freight_runner;
REVOKE DELETE ON carrier_invites, sso_sessions FROM freight_runner;
DROP POLICY dsr_erasure ON tenants;
DROP POLICY dsr_erasure ON documents;
DROP POLICY dsr_erasure ON limit_increase_requests;
DROP POLICY dsr_erasure ON billing_accounts;
DROP POLICY dsr_erasure ON signups;
DROP POLICY dsr_erasure ON sso_sessions;
DROP POLICY dsr_erasure ON carrier_invites;
DROP POLICY dsr_drill ON carrier_invites;
REVOKE SELECT (tenant_id, billing_email) ON billing_accounts FROM freight_operator;
REVOKE SELECT (tenant_id, email) ON signups FROM freight_operator;
REVOKE SELECT (tenant_id, subject, email) ON sso_sessions FROM freight_operator;
DROP POLICY dsr_lookup ON billing_accounts;
DROP POLICY dsr_lookup ON signups;
DROP POLICY dsr_lookup ON sso_sessions;
REVOKE SELECT, INSERT ON carrier_invites FROM freight_operator;
DROP TABLE dsr_tombstones, dsr_export_links, dsr_bundles, dsr_events, dsr_requests;
DROP FUNCTION dsr_events_append_only();
