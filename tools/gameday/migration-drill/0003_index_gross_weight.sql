-- Up Migration
--! no-transaction
-- The new column's index, built while both versions write the table: concurrently, outside a
-- transaction. A re-run after a failed build drops the INVALID leftover first.
DROP INDEX CONCURRENTLY IF EXISTS drill_shipments_gross_weight;
CREATE INDEX CONCURRENTLY drill_shipments_gross_weight ON drill_shipments (tenant_id, gross_weight_lbs);
-- Down Migration
--! no-transaction
DROP INDEX CONCURRENTLY IF EXISTS drill_shipments_gross_weight;
