-- Up Migration
-- Directory compliance (app/growth/carrier-compliance.ts): carriers carry compliance documents
-- (insurance certificate, operating authority, W-9) with issue and expiry dates, recorded through the
-- API by a tenant that invited the carrier, and shared like the directory itself: every tenant sees
-- the same freshness score. The scheduled job (freight_operator) reminds each carrier before a
-- document expires (30, 7 and 1 days, once each: carrier_compliance_reminders) and tells the tenants
-- that onboarded a carrier when one of its documents lapses (agent tasks, deduplicated on the lapse).
-- An invite is onboarded when the carrier accepted it and holds every document, unexpired: the
-- executive dashboard's invite -> onboard conversion counts onboarded_at.

CREATE TABLE carrier_compliance_documents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  carrier_id uuid NOT NULL REFERENCES carriers ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('insurance_certificate', 'operating_authority', 'w9')),
  issued_on date NOT NULL,
  -- The last day the document is valid.
  expires_on date NOT NULL,
  -- Where the carrier's reminders go: the compliance contact the carrier gave with this document.
  contact_email text NOT NULL CHECK (contact_email ~ '^[^@\s]+@[^@\s]+$'),
  -- No column names the tenant that recorded it: the documents are the carrier's and every tenant
  -- reads them, so which tenant works with which carrier must not be readable here (the RLS probe
  -- refuses a shared table that leads to a tenant). The reminders are queued in the name of a
  -- tenant that invited the carrier, read from carrier_invites by the job.
  recorded_at timestamptz NOT NULL DEFAULT now(),
  CHECK (expires_on > issued_on)
);
-- The current document of a kind is the latest issued (then recorded) one.
CREATE INDEX carrier_compliance_documents_current
  ON carrier_compliance_documents (carrier_id, kind, issued_on DESC, recorded_at DESC);
CREATE INDEX carrier_compliance_documents_expiry ON carrier_compliance_documents (expires_on);
GRANT SELECT ON carrier_compliance_documents TO freight_app, freight_ops, freight_operator;
-- Tenants add documents (the route checks the tenant invited the carrier); nobody rewrites history.
GRANT INSERT (carrier_id, kind, issued_on, expires_on, contact_email)
  ON carrier_compliance_documents TO freight_app;

-- One reminder per document per threshold, whoever runs the job how often.
CREATE TABLE carrier_compliance_reminders (
  document_id uuid NOT NULL REFERENCES carrier_compliance_documents ON DELETE CASCADE,
  days_before integer NOT NULL CHECK (days_before IN (30, 7, 1)),
  sent_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (document_id, days_before)
);
GRANT SELECT, INSERT ON carrier_compliance_reminders TO freight_operator;
GRANT SELECT ON carrier_compliance_reminders TO freight_ops;

ALTER TABLE carrier_invites ADD COLUMN onboarded_at timestamptz;
ALTER TABLE carrier_invites ADD CONSTRAINT carrier_invites_onboarded_accepted
  CHECK (onboarded_at IS NULL OR accepted_at IS NOT NULL);
-- The job reads which tenants onboarded which carriers, to tell them of a lapse, and marks the
-- invites whose carrier completed its documents after accepting.
CREATE POLICY carrier_compliance ON carrier_invites TO freight_operator USING (true) WITH CHECK (true);
GRANT SELECT (tenant_id, carrier_id, status, accepted_at, onboarded_at) ON carrier_invites TO freight_operator;
GRANT UPDATE (onboarded_at) ON carrier_invites TO freight_operator;
GRANT UPDATE (onboarded_at) ON carrier_invites TO freight_app;

-- Down Migration
REVOKE UPDATE (onboarded_at) ON carrier_invites FROM freight_app;
REVOKE UPDATE (onboarded_at) ON carrier_invites FROM freight_operator;
REVOKE SELECT (tenant_id, carrier_id, status, accepted_at, onboarded_at) ON carrier_invites FROM freight_operator;
DROP POLICY carrier_compliance ON carrier_invites;
ALTER TABLE carrier_invites DROP CONSTRAINT carrier_invites_onboarded_accepted;
ALTER TABLE carrier_invites DROP COLUMN onboarded_at;
DROP TABLE carrier_compliance_reminders;
DROP TABLE carrier_compliance_documents;
