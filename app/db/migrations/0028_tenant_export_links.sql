-- Up Migration
-- A deleted Tenant's data_export task now produces the data subject request access bundle of the whole
-- tenant (app/runner/data-export.ts): the runner files and verifies that request, then issues the
-- signed, expiring link ops is sent. The tenant's API keys are disabled by then, so ops redeem it (and
-- ask for a fresh one) with `npm run dsr` as freight_operator, not through the API.
-- The runner issues links in the tenant's context; it still cannot read a token's hash, so a tenant's
-- bundle never carries the credentials of its own links.
CREATE POLICY runner_issue_link ON dsr_export_links FOR INSERT TO freight_runner
  WITH CHECK (tenant_id = current_tenant_id());
-- INSERT ... RETURNING reads the new row back: the runner sees its tenant's links, without the hash.
CREATE POLICY runner_issue_link_read ON dsr_export_links FOR SELECT TO freight_runner
  USING (tenant_id = current_tenant_id());
GRANT INSERT ON dsr_export_links TO freight_runner;
GRANT SELECT (request_id, tenant_id, expires_at, created_at) ON dsr_export_links TO freight_runner;
-- Ops redeem a link by its token (hashed) and issue a fresh one when it expired, for any tenant.
CREATE POLICY platform_operator ON dsr_export_links TO freight_operator USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON dsr_export_links TO freight_operator;
-- The stored bundles' lifecycle rows are theirs to read already (0017); data_exports keeps the archives
-- the earlier export wrote, read by app/ops/data-export.ts, and gets no new ones.
REVOKE INSERT ON data_exports FROM freight_runner;
DROP POLICY runner_write ON data_exports;

-- Down Migration
CREATE POLICY runner_write ON data_exports FOR INSERT TO freight_runner
  WITH CHECK (tenant_id = current_tenant_id());
GRANT INSERT ON data_exports TO freight_runner;
REVOKE SELECT, INSERT ON dsr_export_links FROM freight_operator;
DROP POLICY platform_operator ON dsr_export_links;
REVOKE SELECT (request_id, tenant_id, expires_at, created_at) ON dsr_export_links FROM freight_runner;
REVOKE INSERT ON dsr_export_links FROM freight_runner;
DROP POLICY runner_issue_link_read ON dsr_export_links;
DROP POLICY runner_issue_link ON dsr_export_links;
