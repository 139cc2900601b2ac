-- Up Migration
--! no-transaction
-- A concurrent build on a hot table, outside a transaction; a re-run after a failed build starts clean.
DROP INDEX CONCURRENTLY IF EXISTS quotes_lane_key;
CREATE INDEX CONCURRENTLY quotes_lane_key ON quotes (lane_key);
-- Down Migration
DROP INDEX CONCURRENTLY IF EXISTS quotes_lane_key;
