-- Up Migration
--! no-transaction
CREATE INDEX CONCURRENTLY quotes_lane_key ON quotes (lane_key);
-- Down Migration
DROP INDEX CONCURRENTLY IF EXISTS quotes_lane_key;
