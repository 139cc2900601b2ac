// Traffic driver for the region_routing row (migration 0003) that the app's router and the runners
// read. Each region's processes read the row in their own database: before promotion the secondary's
// copy arrives by replication, after it both databases are written (where they accept writes).
import type pg from "pg";
import type { SecretValue } from "../../../../app/secret-file.ts";
import { readRegionRouting, RoutingRowMissingError } from "../../../../app/routing/row.ts";
import { REGIONS, type Region } from "../../../api/regionfailover.ts";
import type { RoutingState } from "../decide.ts";
import { regionPools } from "./postgres.ts";
import type { TrafficDriver } from "./types.ts";

const READ_ONLY_TRANSACTION = "25006";

export class RoutingRowDriver implements TrafficDriver {
  private readonly pools: Record<Region, pg.Pool>;

  /** `operatorUrls`: each region's database as the freight_operator role (UPDATE on region_routing). */
  constructor(operatorUrls: Record<Region, string | SecretValue>) {
    this.pools = regionPools(operatorUrls);
  }

  /** Rejects when the row cannot be read, RoutingRowMissingError included (app/routing/row.ts says why). */
  async read(region: Region): Promise<RoutingState> {
    const { activeRegion, writesFrozen, runnersPaused, secondaryHealthy, weights, readCanaryWeight } =
      await readRegionRouting(this.pools[region]);
    // Absent is 0 (routing.ts): a row without a canary reads as it always has.
    return {
      activeRegion,
      writesFrozen,
      runnersPaused,
      secondaryHealthy,
      weights,
      ...(readCanaryWeight ? { readCanaryWeight } : {}),
    };
  }

  async apply(routing: RoutingState, reason: string): Promise<Region[]> {
    const written: Region[] = [];
    const failures: string[] = [];
    await Promise.all(
      REGIONS.map(async (region) => {
        try {
          const updated = await this.pools[region].query(
            `UPDATE region_routing
                SET active_region = $1, writes_frozen = $2, runners_paused = $3, secondary_healthy = $4,
                    traffic_weights = $5::jsonb, reason = $6, generation = generation + 1, updated_at = now()
              WHERE (active_region, writes_frozen, runners_paused, secondary_healthy, traffic_weights)
                    IS DISTINCT FROM ($1, $2, $3, $4, $5::jsonb)`,
            [
              routing.activeRegion,
              routing.writesFrozen,
              routing.runnersPaused,
              routing.secondaryHealthy,
              // No readCanary key at 0: a row without a canary reads as it always has.
              JSON.stringify({
                ...routing.weights,
                ...(routing.readCanaryWeight ? { readCanary: routing.readCanaryWeight } : {}),
              }),
              reason.slice(0, 500),
            ],
          );
          // No row updated: either it already says so, or there is no row to say anything.
          if (updated.rowCount === 0) {
            const { rowCount } = await this.pools[region].query("SELECT 1 FROM region_routing");
            if (rowCount === 0) throw new RoutingRowMissingError();
          }
          written.push(region);
        } catch (error) {
          // A replica's copy follows its primary by replication; an unreachable one cannot be helped.
          if ((error as { code?: string }).code !== READ_ONLY_TRANSACTION)
            failures.push(`${region}: ${(error as Error).message}`);
        }
      }),
    );
    if (written.length === 0 && failures.length === REGIONS.length) {
      throw new Error(`region_routing could not be written in any region (${failures.join("; ")})`);
    }
    return written;
  }

  async close(): Promise<void> {
    await Promise.all([this.pools.primary.end(), this.pools.secondary.end()]);
  }
}
