-- Up Migration
-- The NPS loop (app/growth/nps.ts): the scheduled job (freight_operator) invites every tenant that
-- reached a milestone (trial day 21, paid day 90) in one set-based statement, one survey per tenant
-- per milestone, and queues the invitation email as a tenant_notice agent task in the same statement.
-- The tenant answers through the API (freight_app, under the tenant's row security): the row holds
-- the one answer, so a second answer or one after the survey expired changes nothing. A detractor's
-- answer queues the save playbook (a save_playbook agent task) for the tenant's account owner.

-- Who looks after the account; the save playbook is addressed to them (NULL: the customer success
-- queue). Nullable without a default, so adding it takes its lock for an instant only.
ALTER TABLE tenants ADD COLUMN account_owner text CHECK (account_owner ~ '^[^@\s]+@[^@\s]+$');

CREATE TABLE nps_surveys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  milestone text NOT NULL CHECK (milestone IN ('trial_day_21', 'paid_day_90')),
  -- The month the tenant signed up (UTC): NPS is read by signup cohort and milestone.
  cohort date NOT NULL CHECK (cohort = date_trunc('month', cohort)),
  reached_at timestamptz NOT NULL,
  invited_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  score smallint CHECK (score BETWEEN 0 AND 10),
  comment text CHECK (char_length(comment) <= 2000),
  responded_at timestamptz,
  UNIQUE (tenant_id, milestone),
  CHECK (expires_at > invited_at),
  CHECK ((score IS NULL) = (responded_at IS NULL)),
  CHECK (comment IS NULL OR score IS NOT NULL)
);
CREATE INDEX nps_surveys_responded ON nps_surveys (responded_at) WHERE responded_at IS NOT NULL;
SELECT protect_tenant_table('nps_surveys');
-- The tenant reads its surveys and answers once; the answer columns are all it can write.
GRANT SELECT, UPDATE (score, comment, responded_at) ON nps_surveys TO freight_app;
CREATE POLICY nps_invitations ON nps_surveys TO freight_operator USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON nps_surveys TO freight_operator;

-- The job dates paid day 90 from the conversion billing recorded: who converted and when, nothing else.
CREATE POLICY nps_invitations ON trial_conversions FOR SELECT TO freight_operator USING (true);
GRANT SELECT (tenant_id, converted_at) ON trial_conversions TO freight_operator;

-- Down Migration
REVOKE SELECT (tenant_id, converted_at) ON trial_conversions FROM freight_operator;
DROP POLICY nps_invitations ON trial_conversions;
DROP TABLE nps_surveys;
ALTER TABLE tenants DROP COLUMN account_owner;
