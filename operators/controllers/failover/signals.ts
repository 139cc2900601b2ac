// Automatic mode's loss signals about a region's primary, gathered by the failover controller (in
// the other region): the database as this operator reaches it, watched continuously so a primary
// that answers between two reconciles is known to have answered; and the app's readiness, which the
// app computes from its own connection to the same database (another path, another client). A
// partition cuts both from here, which is why detection only starts a flip and the fence decides.
import type pg from "pg";
import type { Region } from "../../api/regionfailover.ts";
import type { LossSignalObservation } from "./detect.ts";
import type { HealthSample } from "./observations.ts";

export const WATCH_INTERVAL_MS = 250;

/** Probes each region's database every WATCH_INTERVAL_MS, remembering the last answer. */
export class DatabaseWatch {
  private readonly last = new Map<Region, { ok: boolean; detail?: string; healthyAt?: Date }>();
  private readonly timer: NodeJS.Timeout;
  private readonly pools: Record<Region, pg.Pool>;
  private busy = new Set<Region>();

  constructor(pools: Record<Region, pg.Pool>) {
    this.pools = pools;
    this.timer = setInterval(() => {
      for (const region of ["primary", "secondary"] as const) void this.probe(region);
    }, WATCH_INTERVAL_MS);
    this.timer.unref();
  }

  private async probe(region: Region): Promise<void> {
    if (this.busy.has(region)) return;
    this.busy.add(region);
    const previous = this.last.get(region);
    try {
      await this.pools[region].query("SELECT 1");
      this.last.set(region, { ok: true, healthyAt: new Date() });
    } catch (error) {
      this.last.set(region, { ok: false, detail: (error as Error).message, healthyAt: previous?.healthyAt });
    } finally {
      this.busy.delete(region);
    }
  }

  /** The database signal: the latest probe, and when the database last answered. */
  async reading(region: Region): Promise<LossSignalObservation> {
    if (!this.last.has(region)) await this.probe(region);
    const last = this.last.get(region)!;
    return {
      signal: "database",
      healthy: last.ok,
      ...(last.detail ? { detail: last.detail } : {}),
      ...(last.healthyAt ? { lastHealthyAt: last.healthyAt } : {}),
    };
  }

  close(): void {
    clearInterval(this.timer);
  }
}

export function readinessSignal(sample: HealthSample): LossSignalObservation {
  return { signal: "readiness", healthy: sample.ready, ...(sample.detail ? { detail: sample.detail } : {}) };
}
