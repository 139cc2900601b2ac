-- Up Migration
-- Whether a Tenant object declares this tenant: the operators' tenant controller sets it on every
-- row it provisions, and its sweep (operators/controllers/tenant/sweep.ts) offboards only declared
-- tenants whose Tenant object is gone. Rows written outside the control plane (the local platform's
-- demo seed, a bootstrap script) stay false and are never swept; declaring a Tenant for one adopts it.
ALTER TABLE tenants ADD COLUMN declared boolean NOT NULL DEFAULT false;
-- Every tenant in a deployed database came through the control plane (signup and billing create
-- Tenant objects); without this the first reconcile after the upgrade would rewrite every row.
UPDATE tenants SET declared = true;

-- Down Migration
ALTER TABLE tenants DROP COLUMN declared;
