-- Up Migration
-- API keys get a lifecycle (scopes, expiry, rotation with a grace period, last use) and tenants can
-- sign themselves up (a signup per tenant, its email verified by a hashed single-use token).
--
-- Every change that can make a key stop (or start) working notifies 'api_key_changed' with the key's
-- id, from a trigger rather than from the route, so a revocation by hand in psql reaches every API
-- replica's auth cache just the same. last_used_at is left out: it changes without changing access.

ALTER TABLE api_keys
  ADD COLUMN scopes text[] NOT NULL DEFAULT '{read,quote,admin}'
    CHECK (cardinality(scopes) > 0 AND scopes <@ '{read,quote,admin}'::text[]),
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN last_used_at timestamptz,
  -- The key this one replaced (rotation); the old one keeps working until its expires_at.
  ADD COLUMN rotated_from uuid REFERENCES api_keys ON DELETE SET NULL,
  -- A signup's first key works only once the signup's email is verified.
  ADD COLUMN awaiting_verification boolean NOT NULL DEFAULT false;
CREATE INDEX api_keys_rotated_from ON api_keys (rotated_from);
-- A tenant's data export carries its keys' lifecycle, as it carries the rest of the key but its hash.
GRANT SELECT (scopes, expires_at, last_used_at, rotated_from, awaiting_verification) ON api_keys TO freight_runner;

-- Another change adds the same column for trial expiry; whichever runs first creates it.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS trial_ends_at timestamptz;

CREATE FUNCTION notify_api_key_changed() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  PERFORM pg_notify('api_key_changed', 'key:' || NEW.id::text);
  RETURN NEW;
END
$$;
CREATE TRIGGER api_key_changed AFTER UPDATE ON api_keys FOR EACH ROW
  WHEN (OLD.disabled_at IS DISTINCT FROM NEW.disabled_at
        OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
        OR OLD.scopes IS DISTINCT FROM NEW.scopes
        OR OLD.awaiting_verification IS DISTINCT FROM NEW.awaiting_verification)
  EXECUTE FUNCTION notify_api_key_changed();

-- A tenant disabled (offboarding) or re-planned changes what all of its keys' principals say.
CREATE FUNCTION notify_tenant_keys_changed() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  PERFORM pg_notify('api_key_changed', 'tenant:' || NEW.id::text);
  RETURN NEW;
END
$$;
CREATE TRIGGER tenant_keys_changed AFTER UPDATE ON tenants FOR EACH ROW
  WHEN (OLD.disabled_at IS DISTINCT FROM NEW.disabled_at
        OR OLD.plan_id IS DISTINCT FROM NEW.plan_id
        OR OLD.billing_status IS DISTINCT FROM NEW.billing_status)
  EXECUTE FUNCTION notify_tenant_keys_changed();

-- One signup per tenant. The unique index on the address is what makes a second signup with the same
-- email fail even when both arrive at once (tenants.slug does the same for the company).
CREATE TABLE signups (
  tenant_id uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
  email text NOT NULL CHECK (email = lower(email)),
  plan_requested text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  email_verified_at timestamptz
);
CREATE UNIQUE INDEX signups_email ON signups (email);
SELECT protect_tenant_table('signups');
GRANT SELECT, INSERT, UPDATE ON signups TO freight_app;
-- Resending a verification email starts from the address alone: a signup row is visible to the app
-- when the caller names its email (app.signup_email), as a key is when its hash is presented.
CREATE POLICY email_lookup ON signups FOR SELECT TO freight_app
  USING (email = current_setting('app.signup_email', true));

CREATE TABLE email_verifications (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_verifications_tenant ON email_verifications (tenant_id);
SELECT protect_tenant_table('email_verifications');
GRANT SELECT, INSERT, UPDATE ON email_verifications TO freight_app;
-- The link's owner is not known before the token is looked up: like an API key, a verification row is
-- visible to the app only when the caller presents its hash (app.verification_token_hash).
CREATE POLICY token_lookup ON email_verifications FOR SELECT TO freight_app
  USING (encode(token_hash, 'hex') = current_setting('app.verification_token_hash', true));
-- A token's hash proves a pending verification; it is no customer data and stays out of exports.
REVOKE SELECT ON email_verifications FROM freight_runner;
GRANT SELECT (id, tenant_id, expires_at, used_at, created_at) ON email_verifications TO freight_runner;

-- Down Migration
DROP TABLE email_verifications;
DROP TABLE signups;
DROP TRIGGER tenant_keys_changed ON tenants;
DROP FUNCTION notify_tenant_keys_changed();
DROP TRIGGER api_key_changed ON api_keys;
DROP FUNCTION notify_api_key_changed();
REVOKE SELECT (scopes, expires_at, last_used_at, rotated_from, awaiting_verification) ON api_keys FROM freight_runner;
DROP INDEX api_keys_rotated_from;
ALTER TABLE api_keys
  DROP COLUMN awaiting_verification,
  DROP COLUMN rotated_from,
  DROP COLUMN last_used_at,
  DROP COLUMN expires_at,
  DROP COLUMN scopes;
