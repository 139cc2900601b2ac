-- Up Migration
-- The expand half of an expand/contract change: nothing here breaks the version serving beside it.
ALTER TABLE quotes ADD COLUMN lane_key text;
ALTER TABLE quotes ADD COLUMN priced_at timestamptz DEFAULT now();
ALTER TABLE quotes ADD CONSTRAINT quotes_lane_key_present CHECK (lane_key IS NOT NULL) NOT VALID;
ALTER TABLE quotes VALIDATE CONSTRAINT quotes_lane_key_present;
ALTER TABLE quotes ALTER COLUMN lane_key SET NOT NULL;
CREATE TABLE lane_notes (id uuid PRIMARY KEY, note text);
CREATE INDEX lane_notes_note ON lane_notes (note);
-- Down Migration
ALTER TABLE quotes DROP COLUMN lane_key;
