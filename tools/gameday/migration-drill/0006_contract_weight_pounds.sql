-- Up Migration
-- Readiness: not needed by this version
-- Contract: no serving version reads or writes the old column any more.
ALTER TABLE drill_shipments DROP COLUMN weight_pounds;
-- Down Migration
ALTER TABLE drill_shipments ADD COLUMN weight_pounds integer;
