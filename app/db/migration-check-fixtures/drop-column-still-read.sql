-- Up Migration
ALTER TABLE quotes DROP COLUMN pricing_version;
-- Down Migration
ALTER TABLE quotes ADD COLUMN pricing_version text;
