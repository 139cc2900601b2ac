-- Up Migration
-- The routing state of this region's deployment: one row, written by the failover controller (through
-- its traffic driver) and read by the app's router middleware and by the runners. It is how a flip
-- reaches running processes without a redeploy: writes frozen during cutover, runners paused and
-- drained, users pinned to the primary while the secondary is unhealthy.
CREATE TABLE region_routing (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  active_region text NOT NULL DEFAULT 'primary' CHECK (active_region IN ('primary', 'secondary')),
  writes_frozen boolean NOT NULL DEFAULT false,
  runners_paused boolean NOT NULL DEFAULT false,
  secondary_healthy boolean NOT NULL DEFAULT true,
  -- Percent of traffic per region during a staged shift (10 -> 50 -> 100).
  traffic_weights jsonb NOT NULL DEFAULT '{"primary": 100, "secondary": 0}',
  reason text,
  generation bigint NOT NULL DEFAULT 1,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO region_routing DEFAULT VALUES;

GRANT SELECT ON region_routing TO freight_app, freight_ops, freight_operator;
GRANT UPDATE ON region_routing TO freight_operator;

-- Down Migration
DROP TABLE region_routing;
