-- Up Migration
-- The tenant lifecycle after signup: limit increases decided by ops, the first-run checklist's nudge,
-- trial expiry and the trial -> paid conversions the executive dashboard counts.
--
--   limit increases  a request is open until ops grants or declines it once (`npm run limits`, as
--                    freight_operator); the decision, who made it and why stay on the row, and the
--                    tenant can no longer edit its own request (the API only inserts and reads).
--   onboarding       the checklist is derived from the tenant's own quotes, invites and bookings; the
--                    nudge job (freight_operator) only needs to know which tenants have quoted at all.
--   trials           trial_ends_at is set at signup (0008 adds it too: whichever runs first wins);
--                    trial_conversions gets one row when a trial tenant starts paying, written by
--                    billing in the transaction that applies the paid plan.

ALTER TABLE tenants ADD COLUMN IF NOT EXISTS trial_ends_at timestamptz;

ALTER TABLE limit_increase_requests
  ADD COLUMN decided_at timestamptz,
  ADD COLUMN decided_by text,
  ADD COLUMN decision_reason text,
  ADD COLUMN granted_included bigint CHECK (granted_included > 0),
  ADD COLUMN granted_hard_ceiling bigint CHECK (granted_hard_ceiling > 0),
  ADD CONSTRAINT limit_increase_requests_decided CHECK ((status = 'open') = (decided_at IS NULL)),
  ADD CONSTRAINT limit_increase_requests_granted
    CHECK (status <> 'granted' OR (granted_included IS NOT NULL AND granted_hard_ceiling >= granted_included)),
  ADD CONSTRAINT limit_increase_requests_declined CHECK (status <> 'declined' OR decision_reason IS NOT NULL);
CREATE INDEX limit_increase_requests_tenant ON limit_increase_requests (tenant_id, created_at);
CREATE INDEX limit_increase_requests_open ON limit_increase_requests (created_at) WHERE status = 'open';
-- A tenant asks and reads; only ops decides.
REVOKE UPDATE, DELETE ON limit_increase_requests FROM freight_app;

-- The checklist reads each tenant's first booking (quotes and invites have (tenant_id, ...) indexes).
CREATE INDEX bookings_tenant_created ON bookings (tenant_id, created_at);

-- The nudge job finds tenants without a first quote: which tenant quoted and when, nothing else.
CREATE POLICY onboarding_nudge ON quotes FOR SELECT TO freight_operator USING (true);
GRANT SELECT (tenant_id, created_at) ON quotes TO freight_operator;

CREATE TABLE trial_conversions (
  tenant_id uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
  trial_ends_at timestamptz NOT NULL,
  plan_id text NOT NULL REFERENCES plans,
  stripe_subscription_id text,
  converted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trial_conversions_trial_end ON trial_conversions (trial_ends_at);
SELECT protect_tenant_table('trial_conversions');
CREATE POLICY billing_service ON trial_conversions TO freight_billing USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON trial_conversions TO freight_billing;
GRANT SELECT ON trial_conversions TO freight_app;

-- Down Migration
DROP TABLE trial_conversions;
REVOKE SELECT (tenant_id, created_at) ON quotes FROM freight_operator;
DROP POLICY onboarding_nudge ON quotes;
DROP INDEX bookings_tenant_created;
GRANT UPDATE, DELETE ON limit_increase_requests TO freight_app;
DROP INDEX limit_increase_requests_open;
DROP INDEX limit_increase_requests_tenant;
ALTER TABLE limit_increase_requests
  DROP CONSTRAINT limit_increase_requests_declined,
  DROP CONSTRAINT limit_increase_requests_granted,
  DROP CONSTRAINT limit_increase_requests_decided,
  DROP COLUMN granted_hard_ceiling,
  DROP COLUMN granted_included,
  DROP COLUMN decision_reason,
  DROP COLUMN decided_by,
  DROP COLUMN decided_at;
