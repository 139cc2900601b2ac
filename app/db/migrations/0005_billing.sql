-- Up Migration
-- Billing: the Stripe customer and subscription state per tenant, the webhook event log that makes
-- replays no-ops, the overage outbox that reports usage to Stripe billing meters exactly once, and the
-- deal desk's append-only discount audit. Stripe is a trusted, signature-verified caller that is not a
-- tenant, so webhooks, the overage reporter and the deal desk connect as freight_billing: all tenants'
-- billing rows, read-only usage and limits, agent tasks for alerts and dunning notices, nothing else.

CREATE TABLE billing_accounts (
  tenant_id uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
  stripe_customer_id text NOT NULL UNIQUE,
  stripe_subscription_id text UNIQUE,
  stripe_price_id text,
  subscription_status text,
  -- What billing last asked the Tenant resource for (spec.plan, spec.billingStatus).
  plan_id text,
  billing_status text CHECK (billing_status IN ('trialing', 'active', 'past_due', 'unpaid', 'canceled')),
  past_due_since timestamptz,
  grace_ends_at timestamptz,
  current_period_end timestamptz,
  -- Feature lookup keys from Stripe's active entitlement summary, for support and display.
  stripe_features text[] NOT NULL DEFAULT '{}',
  -- High-water mark: event.created of the newest subscription event applied. Older events still
  -- trigger a fetch of the current state, never a step back to their own snapshot.
  state_as_of timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per Stripe event id, written in the transaction that applies its effects.
CREATE TABLE stripe_events (
  id text PRIMARY KEY,
  type text NOT NULL,
  created timestamptz NOT NULL,
  tenant_id uuid REFERENCES tenants ON DELETE CASCADE,
  outcome text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_tenant ON stripe_events (tenant_id, received_at);

-- Usage beyond the included quantity, one row per reported unit range of a tenant, meter and period.
-- The identifier is Stripe's dedupe key; (tenant, meter, period, from_units) makes creating a range twice
-- impossible, so neither we nor Stripe ever count a unit twice.
CREATE TABLE overage_outbox (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  meter text NOT NULL,
  period_start timestamptz NOT NULL,
  from_units bigint NOT NULL CHECK (from_units >= 0),
  to_units bigint NOT NULL,
  quantity bigint GENERATED ALWAYS AS (to_units - from_units) STORED,
  identifier text NOT NULL UNIQUE,
  event_name text NOT NULL,
  stripe_customer_id text NOT NULL,
  usage_at timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  CHECK (to_units > from_units),
  UNIQUE (tenant_id, meter, period_start, from_units)
);
CREATE INDEX overage_outbox_due ON overage_outbox (next_attempt_at) WHERE status = 'pending';

-- Every discount decision of the deal desk, approved or refused. Rows are never changed or removed.
CREATE TABLE discount_approvals (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  deal_ref text NOT NULL,
  term text NOT NULL CHECK (term IN ('monthly', 'annual', 'prepay')),
  percent numeric(5, 2) NOT NULL CHECK (percent > 0 AND percent <= 100),
  decided_by text NOT NULL,
  decided_by_role text NOT NULL,
  decision text NOT NULL CHECK (decision IN ('approved', 'refused')),
  required_role text,
  reason text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX discount_approvals_tenant ON discount_approvals (tenant_id, created_at);

-- Per statement, so even a change that row security would narrow to no rows is refused outright.
CREATE FUNCTION discount_approvals_append_only() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'discount_approvals is an append-only audit: % is not allowed; record a new decision instead', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER discount_approvals_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON discount_approvals
  FOR EACH STATEMENT EXECUTE FUNCTION discount_approvals_append_only();

SELECT protect_tenant_table(t)
  FROM unnest(ARRAY['billing_accounts', 'stripe_events', 'overage_outbox', 'discount_approvals']::regclass[]) AS t;
CREATE POLICY billing_service ON billing_accounts TO freight_billing USING (true) WITH CHECK (true);
CREATE POLICY billing_service ON stripe_events TO freight_billing USING (true) WITH CHECK (true);
CREATE POLICY billing_service ON overage_outbox TO freight_billing USING (true) WITH CHECK (true);
CREATE POLICY billing_service ON discount_approvals TO freight_billing USING (true) WITH CHECK (true);
GRANT SELECT ON billing_accounts, stripe_events, overage_outbox, discount_approvals TO freight_app;

-- The API creates its tenant's Stripe customer at the first checkout; everything else is the webhook's.
GRANT INSERT ON billing_accounts TO freight_app;
GRANT SELECT, INSERT, UPDATE ON billing_accounts, stripe_events, overage_outbox TO freight_billing;
GRANT SELECT, INSERT ON discount_approvals TO freight_billing;

-- What billing reads and writes of the rest: tenants and their usage and limits (read), alert and
-- dunning tasks (insert; the dedupe key makes a repeat a no-op).
CREATE POLICY billing_service ON tenants FOR SELECT TO freight_billing USING (true);
CREATE POLICY billing_service ON usage_counters FOR SELECT TO freight_billing USING (true);
CREATE POLICY billing_service ON entitlements FOR SELECT TO freight_billing USING (true);
CREATE POLICY billing_service ON agent_tasks TO freight_billing USING (true) WITH CHECK (true);
GRANT SELECT ON tenants, usage_counters, entitlements, plans TO freight_billing;
GRANT SELECT, INSERT ON agent_tasks TO freight_billing;
GRANT EXECUTE ON FUNCTION current_tenant_id() TO freight_billing;
GRANT SELECT ON pgmigrations TO freight_billing;

-- Down Migration
DROP POLICY billing_service ON tenants;
DROP POLICY billing_service ON usage_counters;
DROP POLICY billing_service ON entitlements;
DROP POLICY billing_service ON agent_tasks;
REVOKE ALL ON tenants, usage_counters, entitlements, plans, agent_tasks, pgmigrations FROM freight_billing;
DROP TABLE discount_approvals, overage_outbox, stripe_events, billing_accounts;
DROP FUNCTION discount_approvals_append_only();
