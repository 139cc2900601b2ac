-- Up Migration
-- Settled actuals for bookings: what the load was finally invoiced at (actual_rate_cents, which
-- invoice_pricing_view compares with the quoted rate) and what the carrier was paid for it, so
-- pricing variance and realised margin are measured against money that moved. One settlement per
-- booking (invoices.booking_id is unique): a settlement is final, and sending the same one again
-- changes nothing, which is what makes a re-run CSV import safe.
ALTER TABLE invoices
  ADD COLUMN carrier_cost_cents bigint CHECK (carrier_cost_cents >= 0),
  -- Quotes are priced in US dollars; an invoice in another currency cannot be compared with them.
  ADD COLUMN currency text NOT NULL DEFAULT 'USD' CHECK (currency = 'USD'),
  ADD COLUMN invoice_number text NOT NULL DEFAULT '' CHECK (length(invoice_number) <= 100);
-- The app corrects nothing after the fact: a settlement is inserted once and then only read.
REVOKE UPDATE, DELETE ON invoices FROM freight_app;
-- The controller and the backtest read actuals of every tenant: the pricing model is shared.
CREATE POLICY platform_operator ON invoices FOR SELECT TO freight_operator USING (true);
CREATE POLICY platform_operator ON bookings FOR SELECT TO freight_operator USING (true);
-- quotes already has a read policy for the operators (onboarding_nudge, 0011); it gains every column.
GRANT SELECT ON invoices, bookings, quotes TO freight_operator;

-- Down Migration
REVOKE SELECT ON invoices, bookings, quotes FROM freight_operator;
GRANT SELECT (tenant_id, created_at) ON quotes TO freight_operator;
DROP POLICY platform_operator ON bookings;
DROP POLICY platform_operator ON invoices;
GRANT UPDATE, DELETE ON invoices TO freight_app;
ALTER TABLE invoices DROP COLUMN invoice_number, DROP COLUMN currency, DROP COLUMN carrier_cost_cents;
