-- Up Migration
-- Weekly backtests of PricingModel versions (npm run pricing:backtest, app/pricing/backtest.ts):
-- settled bookings of the last weeks replayed through a version's coefficients and guardrails, with
-- the variance against what was invoiced, the margin over what carriers were paid and the regional-cap
-- breaches, per region and equipment. One row per run, never updated: the PricingModel controller
-- reads the latest of a version (latestBacktest) to require a passing backtest before a promotion.
-- Not tenant data: aggregates over every tenant, as the analysis reads them, so no RLS.
CREATE TABLE pricing_backtests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  model text NOT NULL CHECK (model ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' AND length(model) <= 63),
  version text NOT NULL CHECK (length(version) BETWEEN 1 AND 63),
  -- sha256 of the version's content as backtested: a result holds only for exactly that content.
  version_checksum text NOT NULL CHECK (version_checksum ~ '^[0-9a-f]{64}$'),
  weeks integer NOT NULL CHECK (weeks BETWEEN 1 AND 52),
  window_start date NOT NULL,
  window_end date NOT NULL CHECK (window_end >= window_start),
  samples integer NOT NULL CHECK (samples > 0),
  abs_variance_percent numeric NOT NULL,
  margin_percent numeric NOT NULL,
  cap_breaches integer NOT NULL CHECK (cap_breaches >= 0),
  passed boolean NOT NULL,
  -- Each failed guardrail in a sentence with its value; empty when passed.
  failures text[] NOT NULL DEFAULT '{}' CHECK (passed = (cardinality(failures) = 0)),
  -- Per origin region and equipment: samples, variance, margin, cap breaches.
  groups jsonb NOT NULL CHECK (jsonb_typeof(groups) = 'array'),
  ran_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pricing_backtests_latest ON pricing_backtests (model, version, ran_at DESC);

-- The backtest job and the controller run as the operators' role; ops dashboards read.
GRANT SELECT, INSERT ON pricing_backtests TO freight_operator;
GRANT SELECT ON pricing_backtests TO freight_ops;

-- Down Migration
DROP TABLE pricing_backtests;
