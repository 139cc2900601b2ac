-- Up Migration
-- Plan features the API enforces, and contract rates (a tenant's negotiated lane rates).
--   plan_features   which product features each plan unlocks; reference data like plans, written by the
--                   tenant controller from the Plan objects (or the seed), read by the API at
--                   authentication (cached with the key).
--   contract_rates  a tenant's negotiated linehaul per lane and equipment, valid for a window of pickup
--                   days; quotes use it ahead of spot pricing.
--   sso_providers   a tenant's OpenID Connect identity provider (issuer, client id, and a reference to
--                   the client secret in Secrets Manager: the secret itself is never stored here).
--   sso_logins      authorization requests in flight (state, nonce, PKCE verifier), each usable once.
--   sso_sessions    browser sessions issued at the callback, stored as token hashes, revocable.

CREATE TABLE plan_features (
  plan_id text NOT NULL REFERENCES plans ON DELETE CASCADE,
  feature text NOT NULL CHECK (feature IN ('spotQuotes', 'directorySearch', 'contracts', 'bulkRating', 'invites',
                                           'lists', 'sso', 'dataResidency')),
  PRIMARY KEY (plan_id, feature)
);
-- Plans already stored keep every feature they had in practice (all of them) until the tenant controller
-- or the seed writes the catalogue's set: a deploy never takes a feature away before the Plans say so.
INSERT INTO plan_features (plan_id, feature)
  SELECT p.id, f.feature
    FROM plans p
   CROSS JOIN unnest(ARRAY['spotQuotes', 'directorySearch', 'contracts', 'bulkRating', 'invites', 'lists', 'sso',
                           'dataResidency']) AS f(feature);
GRANT SELECT ON plan_features TO freight_app, freight_ops, freight_operator;
GRANT INSERT, UPDATE, DELETE ON plan_features TO freight_operator;

CREATE TABLE contract_rates (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  origin text NOT NULL,
  destination text NOT NULL,
  equipment text NOT NULL CHECK (equipment IN ('dry_van', 'reefer', 'flatbed')),
  linehaul_cents bigint NOT NULL CHECK (linehaul_cents > 0),
  -- Pickup days the rate applies to, both inclusive (UTC calendar days, as quotes' pickup_date).
  valid_from date NOT NULL,
  valid_to date NOT NULL,
  reference text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  -- Ending a rate before its first day leaves an empty window (valid_to = valid_from - 1).
  CHECK (valid_to >= valid_from - 1)
);
-- The last pickup day any of the tenant's rates covers, kept with the tenant row (which authentication
-- reads and caches) so quotes of tenants without a rate for that day skip the lookup.
ALTER TABLE tenants ADD COLUMN contract_rates_until date;

CREATE INDEX contract_rates_lane ON contract_rates (tenant_id, origin, destination, equipment, valid_from);
SELECT protect_tenant_table('contract_rates');
GRANT SELECT, INSERT, UPDATE ON contract_rates TO freight_app;

-- The rate a quote uses, in one round trip on the quote path (the caller's tenant set here, as
-- create_quote does): the one window covering the pickup day (windows of a lane never overlap).
CREATE FUNCTION contract_rate_for(p_tenant uuid, p_origin text, p_destination text, p_equipment text, p_pickup date)
RETURNS TABLE (id uuid, linehaul_cents bigint, valid_from date, valid_to date)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  RETURN QUERY
    SELECT c.id, c.linehaul_cents, c.valid_from, c.valid_to
      FROM contract_rates c
     WHERE c.tenant_id = p_tenant AND c.origin = p_origin AND c.destination = p_destination
       AND c.equipment = p_equipment AND p_pickup BETWEEN c.valid_from AND c.valid_to
     LIMIT 1;
END
$$;
GRANT EXECUTE ON FUNCTION contract_rate_for(uuid, text, text, text, date) TO freight_app;

CREATE TABLE sso_providers (
  tenant_id uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
  -- The URL's shape is the API's check (app/sso/routes.ts); the row only bounds its size.
  issuer text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
  client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),
  client_secret_ref text NOT NULL CHECK (length(client_secret_ref) BETWEEN 1 AND 2048),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sso_logins (
  state text PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  nonce text NOT NULL,
  code_verifier text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  consumed_at timestamptz
);
CREATE INDEX sso_logins_expiry ON sso_logins (expires_at);

CREATE TABLE sso_sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE,
  subject text NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX sso_sessions_tenant ON sso_sessions (tenant_id);

SELECT protect_tenant_table(t) FROM unnest(ARRAY['sso_providers', 'sso_logins', 'sso_sessions']::regclass[]) AS t;
GRANT SELECT, INSERT, UPDATE, DELETE ON sso_providers, sso_logins, sso_sessions TO freight_app;
-- A tenant's data export (the runner) carries its sessions and logins, never what would replay them:
-- as with api_keys.key_hash, the session hash and the in-flight login's state, nonce and PKCE
-- verifier are left out (the export lists them as omitted).
REVOKE SELECT ON sso_sessions, sso_logins FROM freight_runner;
GRANT SELECT (id, tenant_id, subject, email, created_at, expires_at, revoked_at) ON sso_sessions TO freight_runner;
GRANT SELECT (tenant_id, created_at, expires_at, consumed_at) ON sso_logins TO freight_runner;

-- SSO starts before the tenant is known, as API keys do: a browser names its tenant (login), brings
-- back a state (callback) or a session cookie. Each lookup sees only the row its own value names.
CREATE POLICY sso_login_tenant ON tenants FOR SELECT TO freight_app
  USING (slug = current_setting('app.sso_tenant_slug', true));
CREATE POLICY sso_state_lookup ON sso_logins FOR SELECT TO freight_app
  USING (state = current_setting('app.sso_state', true));
CREATE POLICY sso_session_lookup ON sso_sessions FOR SELECT TO freight_app
  USING (encode(token_hash, 'hex') = current_setting('app.sso_session_hash', true));
CREATE POLICY sso_session_tenant ON tenants FOR SELECT TO freight_app
  USING (EXISTS (SELECT 1 FROM sso_sessions s
                  WHERE s.tenant_id = tenants.id
                    AND encode(s.token_hash, 'hex') = current_setting('app.sso_session_hash', true)));

-- Down Migration
DROP POLICY sso_session_tenant ON tenants;
DROP POLICY sso_login_tenant ON tenants;
DROP TABLE sso_sessions, sso_logins, sso_providers;
DROP FUNCTION contract_rate_for(uuid, text, text, text, date);
DROP TABLE contract_rates;
ALTER TABLE tenants DROP COLUMN contract_rates_until;
DROP TABLE plan_features;
