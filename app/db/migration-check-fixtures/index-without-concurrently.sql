-- Up Migration
CREATE INDEX quotes_origin_destination ON quotes (origin, destination);
