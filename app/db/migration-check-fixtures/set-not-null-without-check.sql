-- Up Migration
ALTER TABLE bookings ADD COLUMN carrier_reference text;
UPDATE bookings SET carrier_reference = 'unknown' WHERE carrier_reference IS NULL;
ALTER TABLE bookings ALTER COLUMN carrier_reference SET NOT NULL;
