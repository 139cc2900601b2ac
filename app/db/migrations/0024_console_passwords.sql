-- Up Migration
-- Console sign-in for self-serve tenants: the signup's email and a password (scrypt, salted), one per
-- tenant. The browser session itself is a signed cookie (app/console/session.ts), so nothing here
-- replays a session; the hash is still left out of the runner's exports, as api_keys.key_hash is.
CREATE TABLE console_passwords (
  tenant_id uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
  email text NOT NULL CHECK (email = lower(email)),
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX console_passwords_email ON console_passwords (email);
SELECT protect_tenant_table('console_passwords');
GRANT SELECT, INSERT, UPDATE, DELETE ON console_passwords TO freight_app;
REVOKE SELECT ON console_passwords FROM freight_runner;
GRANT SELECT (tenant_id, email, created_at, updated_at) ON console_passwords TO freight_runner;
-- Signing in starts from the address alone, before the tenant is known: a row is visible to the app
-- only when the caller names its email (app.console_login_email), as signups' email_lookup does.
CREATE POLICY console_login_lookup ON console_passwords FOR SELECT TO freight_app
  USING (email = current_setting('app.console_login_email', true));

-- Down Migration
DROP TABLE console_passwords;
