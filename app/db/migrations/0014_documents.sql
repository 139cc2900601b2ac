-- Up Migration
-- Documents attached to a booking (proof of delivery, bill of lading, invoice, rate confirmation).
-- The bytes live in the region's documents bucket under a key derived from the tenant and document
-- ids, never from anything the caller sends; this row is what makes an object a document:
--   pending    an upload URL was issued; nothing is served until the upload is confirmed
--   available  the upload was confirmed (size and SHA-256 checked against the object), and its
--              version pinned: a later write to the same key is never served
--   deleted    a delete marker hides it; lifecycle expires the old version as the stacks configure
CREATE TABLE documents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
  booking_id uuid NOT NULL REFERENCES bookings ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('proof_of_delivery', 'bill_of_lading', 'invoice', 'rate_confirmation')),
  file_name text NOT NULL CHECK (length(file_name) BETWEEN 1 AND 200),
  content_type text NOT NULL,
  size_bytes bigint NOT NULL CHECK (size_bytes > 0),
  -- Base64 of the SHA-256 the uploader declared (checked by the API); S3 checks the body against it.
  sha256 text NOT NULL,
  object_key text NOT NULL UNIQUE,
  -- The region whose bucket took the upload (the active one then); reads fall back to the other.
  stored_in text NOT NULL CHECK (stored_in IN ('primary', 'secondary')),
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'available', 'deleted')),
  version_id text,
  upload_expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  confirmed_at timestamptz,
  deleted_at timestamptz,
  CHECK ((state = 'pending') = (confirmed_at IS NULL AND deleted_at IS NULL) OR state = 'deleted')
);
CREATE INDEX documents_booking ON documents (tenant_id, booking_id, created_at);
SELECT protect_tenant_table('documents');
GRANT SELECT, INSERT, UPDATE ON documents TO freight_app;

-- Down Migration
DROP TABLE documents;
