// The region_routing row (migration 0003) as the app sees it: read (app/routing/row.ts) in the
// background every ROUTING_CACHE_MS so the request path only reads memory. A failover flips it in
// the database and every process follows within one refresh, without a redeploy.
import type pg from "pg";
import type { RegionRole } from "../region.ts";
import { readRegionRouting, type RegionRoutingRow } from "./row.ts";

export interface RegionRouting extends RegionRoutingRow {
  /** Where this view came from: the database, a stale copy (database unreachable), or REGION_ACTIVE. */
  source: "database" | "stale" | "default";
}

export interface RoutingCacheOptions {
  pool: pg.Pool;
  /** The active region to assume until the row has been read once (REGION_ACTIVE). */
  defaultActive: RegionRole;
  refreshMs: number;
  onChange?: (routing: RegionRouting) => void;
  onError?: (error: Error) => void;
}

export class RoutingCache {
  private current: RegionRouting;
  private readonly options: RoutingCacheOptions;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(options: RoutingCacheOptions) {
    this.options = options;
    this.current = {
      activeRegion: options.defaultActive,
      writesFrozen: false,
      runnersPaused: false,
      secondaryHealthy: true,
      weights:
        options.defaultActive === "primary" ? { primary: 100, secondary: 0 } : { primary: 0, secondary: 100 },
      readCanaryWeight: 0,
      reason: null,
      generation: 0,
      source: "default",
    };
  }

  /** The routing state as of the last refresh; never waits on the database. */
  get state(): RegionRouting {
    return this.current;
  }

  /** Reads the row once now (start-up, tests), then keeps refreshing in the background. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  refresh(): Promise<void> {
    // One query at a time: a slow database must not pile up refreshes.
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<void> {
    let next: RegionRouting;
    try {
      next = { ...(await readRegionRouting(this.options.pool)), source: "database" };
    } catch (error) {
      this.options.onError?.(error as Error);
      // Keep serving on the last known state (or REGION_ACTIVE) rather than failing every request.
      if (this.current.source === "database") this.current = { ...this.current, source: "stale" };
      return;
    }
    const changed =
      next.generation !== this.current.generation ||
      next.writesFrozen !== this.current.writesFrozen ||
      next.activeRegion !== this.current.activeRegion ||
      next.secondaryHealthy !== this.current.secondaryHealthy ||
      this.current.source !== "database";
    this.current = next;
    if (changed) this.options.onChange?.(next);
  }
}
