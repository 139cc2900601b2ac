-- Up Migration
ALTER TABLE quotes RENAME COLUMN total_cents TO total_amount_cents;
