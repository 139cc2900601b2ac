-- Up Migration
-- Expand: the new column, nullable and without a default, so adding it only touches the catalogue.
ALTER TABLE drill_shipments ADD COLUMN gross_weight_lbs integer;
-- Down Migration
ALTER TABLE drill_shipments DROP COLUMN gross_weight_lbs;
