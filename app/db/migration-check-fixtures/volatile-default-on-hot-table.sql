-- Up Migration
ALTER TABLE quotes ADD COLUMN trace_id uuid NOT NULL DEFAULT gen_random_uuid();
