-- Up Migration
-- Support tickets with SLA clocks (app/support): a tenant opens one through the API, or Alertmanager
-- opens a platform ticket for a firing alert group. Deadlines are computed by app/support/calendar.ts
-- when the ticket is opened (and its priority set) and stored, so the on-call view and the breach
-- gauge are plain reads, and a later calendar change never moves a promise already made.
--   tenant tickets    tenant_id set; the tenant reads and opens its own (tenant_isolation)
--   platform tickets  tenant_id NULL, opened from an alert group; the API reaches them only outside
--                     any tenant context (the Alertmanager receiver), never from a tenant's request
--   on-call           freight_ops reads all (the on-call view, the breach gauge); freight_operator
--                     records a response or resolution (`npm run tickets`)
CREATE TABLE support_tickets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid REFERENCES tenants ON DELETE CASCADE,
  source text NOT NULL CHECK (source IN ('tenant', 'alert')),
  priority text NOT NULL CHECK (priority IN ('P1', 'P2', 'P3')),
  state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'responded', 'resolved')),
  subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
  body text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
  -- Alertmanager's groupKey: one open ticket per alert group (the partial unique index below).
  alert_group_key text,
  alert_labels jsonb,
  -- How many notifications of the group arrived, and how many alerts the last one carried.
  alert_notifications integer NOT NULL DEFAULT 0,
  alert_count integer NOT NULL DEFAULT 0,
  opened_at timestamptz NOT NULL DEFAULT now(),
  response_due_at timestamptz NOT NULL,
  resolution_due_at timestamptz NOT NULL,
  responded_at timestamptz,
  resolved_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((source = 'alert') = (alert_group_key IS NOT NULL)),
  CHECK (source = 'alert' OR tenant_id IS NOT NULL),
  CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
  CHECK (response_due_at >= opened_at AND resolution_due_at >= response_due_at)
);
CREATE UNIQUE INDEX support_tickets_open_alert_group ON support_tickets (alert_group_key)
  WHERE state <> 'resolved';
CREATE INDEX support_tickets_tenant ON support_tickets (tenant_id, opened_at);
-- The on-call view and the breach gauge read only unresolved tickets, by deadline.
CREATE INDEX support_tickets_unresolved ON support_tickets (resolution_due_at) WHERE state <> 'resolved';
SELECT protect_tenant_table('support_tickets');
GRANT SELECT, INSERT ON support_tickets TO freight_app;
-- Platform tickets: the receiver runs as freight_app with no tenant in context; a tenant's request
-- always has one, so it never sees them.
CREATE POLICY alert_receiver ON support_tickets TO freight_app
  USING (tenant_id IS NULL AND current_tenant_id() IS NULL)
  WITH CHECK (tenant_id IS NULL AND source = 'alert' AND current_tenant_id() IS NULL);
GRANT UPDATE (state, alert_labels, alert_notifications, alert_count, resolved_at, updated_at)
  ON support_tickets TO freight_app;
CREATE POLICY on_call ON support_tickets TO freight_operator USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE (state, responded_at, resolved_at, updated_at) ON support_tickets TO freight_operator;

-- Down Migration
DROP TABLE support_tickets;
