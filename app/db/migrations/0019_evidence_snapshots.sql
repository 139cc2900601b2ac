-- Up Migration
-- Weekly SOC 2 evidence snapshots (app/compliance/evidence.ts): what each control could prove, as
-- collected, with the SHA-256 of its canonical content chained to the previous snapshot's, so editing
-- or deleting any snapshot breaks the chain at that point (`npm run evidence -- verify`).
-- Not tenant data: no tenant_id, and row-level security does not apply.
CREATE TABLE evidence_snapshots (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  taken_at timestamptz NOT NULL DEFAULT now(),
  content jsonb NOT NULL,
  -- Hex SHA-256 of previous_hash (or 64 zeros for the first) + a newline + the canonical JSON of content.
  content_hash text NOT NULL UNIQUE CHECK (content_hash ~ '^[0-9a-f]{64}$'),
  previous_hash text NOT NULL CHECK (previous_hash ~ '^[0-9a-f]{64}$'),
  failing_controls text[] NOT NULL
);
-- One successor per snapshot: two concurrent runs cannot fork the chain.
CREATE UNIQUE INDEX evidence_snapshots_chain ON evidence_snapshots (previous_hash);

-- Append-only for everyone but a superuser or the owner disabling this trigger; the chain still
-- shows what they changed.
CREATE FUNCTION evidence_snapshots_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'evidence snapshots are append-only: % refused', TG_OP
    USING HINT = 'take a new snapshot (npm run evidence) instead of changing a recorded one';
END $$;
CREATE TRIGGER evidence_snapshots_append_only BEFORE UPDATE OR DELETE ON evidence_snapshots
  FOR EACH ROW EXECUTE FUNCTION evidence_snapshots_append_only();

-- The weekly job runs as the operators' login; ops reads the history on the replica.
GRANT SELECT, INSERT ON evidence_snapshots TO freight_operator;
GRANT SELECT ON evidence_snapshots TO freight_ops;

-- Down Migration
DROP TABLE evidence_snapshots;
DROP FUNCTION evidence_snapshots_append_only();
