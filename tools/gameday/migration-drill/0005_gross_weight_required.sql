-- Up Migration
-- Every serving version now reads the new column and writes both: require the new one (the validated
-- check lets SET NOT NULL skip its scan) and release the old one, which the next version stops writing.
ALTER TABLE drill_shipments ADD CONSTRAINT drill_shipments_gross_weight_present CHECK (gross_weight_lbs IS NOT NULL) NOT VALID;
ALTER TABLE drill_shipments VALIDATE CONSTRAINT drill_shipments_gross_weight_present;
ALTER TABLE drill_shipments ALTER COLUMN gross_weight_lbs SET NOT NULL;
ALTER TABLE drill_shipments ALTER COLUMN weight_pounds DROP NOT NULL;
-- Down Migration
ALTER TABLE drill_shipments ALTER COLUMN gross_weight_lbs DROP NOT NULL;
