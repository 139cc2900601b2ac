-- Up Migration
-- The split the PricingModel controller has decided, as the quote API prices with it: one row per
-- model, written only by the controller (freight_operator) and read by every API replica, which keeps
-- it in memory and refreshes it on the NOTIFY below, so a weight change or a rollback reaches every
-- replica within seconds and the quote path stays one round trip. The JSON columns hold
-- app/pricing/model-version.ts's PricingVersion ({name, coefficients, guardrails}); the controller
-- copies them from the model's immutable versions, so the app never needs the Kubernetes API.
CREATE TABLE pricing_model_splits (
  model text PRIMARY KEY CHECK (model ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' AND length(model) <= 63),
  bucket_version integer NOT NULL CHECK (bucket_version >= 0),
  champion jsonb NOT NULL CHECK (jsonb_typeof(champion) = 'object'),
  challenger jsonb CHECK (challenger IS NULL OR jsonb_typeof(challenger) = 'object'),
  -- Percent of tenants' buckets on the challenger; 0 whenever there is none (a rollback sets 0 at once).
  challenger_weight numeric(5, 2) NOT NULL DEFAULT 0
    CHECK (challenger_weight >= 0 AND challenger_weight <= 100 AND (challenger IS NOT NULL OR challenger_weight = 0)),
  -- The PricingModel spec hash the row was written from (status.lastAppliedSpecHash).
  spec_hash text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION notify_pricing_split_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pricing_split_changed', COALESCE(NEW.model, OLD.model));
  RETURN NULL;
END;
$$;
CREATE TRIGGER pricing_split_changed AFTER INSERT OR UPDATE OR DELETE ON pricing_model_splits
  FOR EACH ROW EXECUTE FUNCTION notify_pricing_split_changed();

-- Not tenant data: the model is shared by every tenant, so no RLS; the app only reads it.
GRANT SELECT ON pricing_model_splits TO freight_app, freight_ops;
GRANT SELECT, INSERT, UPDATE, DELETE ON pricing_model_splits TO freight_operator;

-- Down Migration
DROP TABLE pricing_model_splits;
DROP FUNCTION notify_pricing_split_changed();
