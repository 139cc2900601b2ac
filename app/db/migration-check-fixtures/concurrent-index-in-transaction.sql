-- Up Migration
-- CONCURRENTLY in a migration the runner wraps in a transaction: PostgreSQL refuses it at deploy time.
CREATE INDEX CONCURRENTLY quotes_lane_key ON quotes (lane_key);
-- Down Migration
DROP INDEX quotes_lane_key;
