-- Up Migration
-- The schema before the drill: a tenant table the drill's app writes and reads on every request, so
-- it is as hot as quotes. Seeded with rows written before the drill, which the backfill must reach.
CREATE TABLE drill_shipments (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  weight_pounds integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Enabled, not forced: the app role is confined to its tenant, the owner's backfill sees every row.
ALTER TABLE drill_shipments ENABLE ROW LEVEL SECURITY;
CREATE POLICY drill_shipments_tenant ON drill_shipments
  USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
GRANT SELECT, INSERT ON drill_shipments TO freight_app;
-- Each release's readiness reads which drill steps are applied.
GRANT SELECT ON drill_pgmigrations TO freight_app;
INSERT INTO drill_shipments (id, tenant_id, weight_pounds)
SELECT md5('seed' || n)::uuid,
       CASE WHEN n % 2 = 0 THEN '00000000-0000-4000-8000-00000000000a'::uuid
            ELSE '00000000-0000-4000-8000-00000000000b'::uuid END,
       1000 + n % 44000
FROM generate_series(1, 40000) AS n;
-- Down Migration
DROP TABLE drill_shipments;
