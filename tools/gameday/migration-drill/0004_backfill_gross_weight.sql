-- Up Migration
--! no-transaction
-- Backfill once every serving version dual-writes: in batches that each commit, so no row stays locked
-- for longer than its batch, and a re-run skips what is done.
DO $$
DECLARE
  done integer;
BEGIN
  LOOP
    UPDATE drill_shipments SET gross_weight_lbs = weight_pounds
    WHERE id IN (SELECT id FROM drill_shipments WHERE gross_weight_lbs IS NULL LIMIT 2000);
    GET DIAGNOSTICS done = ROW_COUNT;
    COMMIT;
    EXIT WHEN done = 0;
  END LOOP;
END
$$;
-- Down Migration
SELECT 1;
