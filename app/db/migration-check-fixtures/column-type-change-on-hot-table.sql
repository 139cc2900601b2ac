-- Up Migration
ALTER TABLE quotes ALTER COLUMN distance_miles TYPE numeric(10, 2);
