// The region_routing row (migration 0003), read in one place: the app's routing cache, the runners'
// pause check and the failover controller's traffic driver all call readRegionRouting, so a column
// added to the row, or the answer to "what if the row is missing", cannot drift between them.
//
// A missing row is an error, never a default. The row is the only record of which region is active
// and whether writes are frozen; inventing "primary, writes open" for a database whose row is gone
// (migration 0003 not applied, or the row deleted by hand) would let writes through during a
// freeze, or send them to a demoted primary after a flip. So every reader says the row is
// unreadable and keeps what it knew: the app keeps its last state (or REGION_ACTIVE, marked
// "default"), the runners stop claiming until it is back, and the failover controller sees no
// routing and takes no routing step on a guess.
import type pg from "pg";
import type { RegionRole } from "../region.ts";

export interface RegionRoutingRow {
  activeRegion: RegionRole;
  writesFrozen: boolean;
  runnersPaused: boolean;
  secondaryHealthy: boolean;
  weights: { primary: number; secondary: number };
  /**
   * Percent of the active region's canary-eligible reads answered from the standby replica (the
   * read canary, app/routing/read-canary.ts). Kept in traffic_weights as "readCanary": it is the
   * standby's share of reads, beside each region's share of traffic, and needs no schema change.
   */
  readCanaryWeight: number;
  reason: string | null;
  generation: number;
}

export class RoutingRowMissingError extends Error {
  constructor() {
    super(
      "region_routing has no row in this database: apply the migrations (npm run migrate; " +
        "migration 0003 inserts the row) or restore it with INSERT INTO region_routing DEFAULT VALUES " +
        "and set active_region to the region that serves",
    );
    this.name = "RoutingRowMissingError";
  }
}

interface Columns {
  active_region: RegionRole;
  writes_frozen: boolean;
  runners_paused: boolean;
  secondary_healthy: boolean;
  traffic_weights: { primary?: number; secondary?: number; readCanary?: number };
  reason: string | null;
  generation: string | number;
}

/** Reads the row; throws RoutingRowMissingError when there is none, and whatever pg throws otherwise. */
export async function readRegionRouting(db: pg.Pool | pg.PoolClient | pg.Client): Promise<RegionRoutingRow> {
  const { rows } = await db.query<Columns>(
    `SELECT active_region, writes_frozen, runners_paused, secondary_healthy, traffic_weights, reason, generation
       FROM region_routing`,
  );
  const row = rows[0];
  if (!row) throw new RoutingRowMissingError();
  return {
    activeRegion: row.active_region,
    writesFrozen: row.writes_frozen,
    runnersPaused: row.runners_paused,
    secondaryHealthy: row.secondary_healthy,
    weights: { primary: row.traffic_weights.primary ?? 0, secondary: row.traffic_weights.secondary ?? 0 },
    readCanaryWeight: row.traffic_weights.readCanary ?? 0,
    reason: row.reason,
    generation: Number(row.generation),
  };
}
