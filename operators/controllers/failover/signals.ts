// Automatic mode's loss signals about a region's primary, gathered by the failover controller (in
// the other region): the database as this operator reaches it, watched continuously so a primary
// that answers between two reconciles is known to have answered; the app's readiness, which the
// app computes from its own connection to the same database (another path, another client); and
// the region's Route 53 health check, whose checkers probe the region's /readyz from several AWS
// regions outside both of ours. A partition between the regions cuts the first two from here but
// not the third, which is why a partition can be told from a loss by requiring all three
// (minFailingSignals 3); with fewer, detection only starts a flip and the fence decides.
import { GetHealthCheckStatusCommand, type Route53Client } from "@aws-sdk/client-route-53";
import type pg from "pg";
import type { Region } from "../../api/regionfailover.ts";
import type { LossSignalObservation } from "./detect.ts";
import type { HealthSample } from "./observations.ts";

export const WATCH_INTERVAL_MS = 250;
/**
 * A probe still unanswered after this long counts as a failed one: a database that hangs (stopped,
 * partitioned away: packets dropped, not refused) must not look healthy until the query times out.
 */
export const WATCH_STALL_MS = 1000;

/** Probes each region's database every WATCH_INTERVAL_MS, remembering the last answer. */
export class DatabaseWatch {
  private readonly last = new Map<Region, { ok: boolean; detail?: string; healthyAt?: Date }>();
  private readonly timer: NodeJS.Timeout;
  private readonly pools: Record<Region, pg.Pool>;
  /** Regions with a probe in flight, and since when. */
  private busy = new Map<Region, number>();

  constructor(pools: Record<Region, pg.Pool>) {
    this.pools = pools;
    this.timer = setInterval(() => {
      for (const region of ["primary", "secondary"] as const) void this.probe(region);
    }, WATCH_INTERVAL_MS);
    this.timer.unref();
  }

  private async probe(region: Region): Promise<void> {
    if (this.busy.has(region)) return;
    this.busy.set(region, Date.now());
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
    if (!this.last.has(region)) {
      // The first look waits for a probe, but no longer than a stall takes to count as failing.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.probe(region),
        new Promise((resolve) => (timer = setTimeout(resolve, WATCH_STALL_MS + 50))),
      ]);
      clearTimeout(timer);
    }
    // The timer's first probe may still be out (probe() then returned at once): no evidence yet.
    const last = this.last.get(region) ?? { ok: true, detail: "first probe still in flight" };
    const since = this.busy.get(region);
    if (since !== undefined && Date.now() - since > WATCH_STALL_MS)
      return {
        signal: "database",
        healthy: false,
        detail: `no answer to SELECT 1 for ${((Date.now() - since) / 1000).toFixed(1)} s`,
        ...(last.healthyAt ? { lastHealthyAt: last.healthyAt } : {}),
      };
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

/**
 * Route 53 counts a health check healthy when more than 18 % of its checkers report it healthy
 * (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
 */
export const ROUTE53_HEALTHY_SHARE = 0.18;

/**
 * The DNS health check signal: GetHealthCheckStatus of the region's Route 53 health check, judged as
 * Route 53 judges it. A status that cannot be read (throttled, timed out) is no evidence that the
 * primary is lost: the signal then does not count as failing and says why.
 */
export class DnsHealthCheckSignal {
  private readonly client: Route53Client;
  private readonly ids: Partial<Record<Region, string>>;
  private readonly timeoutMs: number;

  constructor(
    client: Route53Client,
    ids: Partial<Record<Region, string>>,
    options: { timeoutMs?: number } = {},
  ) {
    this.client = client;
    this.ids = ids;
    this.timeoutMs = options.timeoutMs ?? 1500;
  }

  /** True when `region` has a health check to read. */
  has(region: Region): boolean {
    return this.ids[region] !== undefined;
  }

  async reading(region: Region): Promise<LossSignalObservation> {
    const id = this.ids[region]!;
    let observations;
    try {
      const out = await this.client.send(new GetHealthCheckStatusCommand({ HealthCheckId: id }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      observations = out.HealthCheckObservations ?? [];
    } catch (error) {
      return {
        signal: "dnsHealthCheck",
        healthy: true,
        detail: `unknown, not counted as failing: GetHealthCheckStatus ${id} failed (${(error as Error).name}: ${(error as Error).message})`,
      };
    }
    if (observations.length === 0)
      return {
        signal: "dnsHealthCheck",
        healthy: true,
        detail: `unknown, not counted as failing: health check ${id} has no checker observations yet`,
      };
    const healthy = observations.filter((o) => o.StatusReport?.Status?.startsWith("Success"));
    const failing = observations.find((o) => !o.StatusReport?.Status?.startsWith("Success"));
    const share = healthy.length / observations.length;
    const summary = `${healthy.length}/${observations.length} Route 53 checkers see it healthy`;
    return {
      signal: "dnsHealthCheck",
      healthy: share > ROUTE53_HEALTHY_SHARE,
      detail: failing
        ? `${summary}; ${failing.Region ?? "a checker"}: ${failing.StatusReport?.Status ?? "no status"}`
        : summary,
    };
  }
}
