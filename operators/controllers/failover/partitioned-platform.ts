// Test fixture: the two-region local platform with the secondary's failover controller (the
// stacks' environment) reaching the primary region, its database and its app, through links that
// can be partitioned (tools/platform/partition-proxy.ts), and a sampler that tries a write on each
// region's database every 250 ms, directly (not through the links), for a split-brain count.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Region, RegionFailover, RegionFailoverSpec } from "../../api/regionfailover.ts";
import { waitFor, type OperatorProcess } from "../../../tools/platform/operators.ts";
import { startPartitionProxy, type PartitionProxy } from "../../../tools/platform/partition-proxy.ts";
import { startFailoverPlatform, type FailoverPlatform } from "../../../tools/platform/regions.ts";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tries a write on each region's database every 250 ms until stopped. */
export class WriteSampler {
  readonly accepted: Record<Region, number[]> = { primary: [], secondary: [] };
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(urls: Record<Region, string>) {
    this.loops = (["primary", "secondary"] as const).map(async (region) => {
      while (this.running) {
        const client = new pg.Client({ connectionString: urls[region], connectionTimeoutMillis: 1000 });
        client.on("error", () => undefined);
        try {
          await client.connect();
          await client.query("SET statement_timeout = 1000");
          await client.query("INSERT INTO split_brain_probe (region) VALUES ($1)", [region]);
          this.accepted[region].push(Date.now());
        } catch {
          /* refused: read-only, fenced, down */
        } finally {
          await client.end().catch(() => undefined);
        }
        await sleep(250);
      }
    });
  }

  /** Writes `region`'s database accepted between two instants (ms since the epoch). */
  between(region: Region, from: number, to = Date.now()): number {
    return this.accepted[region].filter((t) => t >= from && t <= to).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

export interface PartitionedPlatform {
  platform: FailoverPlatform;
  operator: OperatorProcess;
  /** The secondary region's view of the primary region. */
  link: { database: PartitionProxy; app: PartitionProxy };
  sampler: WriteSampler;
  /** Cuts (or, with "refuse", resets) both links; heal() restores them. */
  partition(mode?: "drop" | "refuse"): void;
  heal(): void;
  failoverWhere<T>(
    what: string,
    probe: (rf: RegionFailover) => T | undefined | false,
    timeoutMs?: number,
  ): Promise<T>;
  stop(): Promise<void>;
}

export const signal = (rf: RegionFailover, name: string) =>
  rf.status?.automatic?.signals?.find((s) => s.signal === name);

export const automatic = (minFailingSignals: number, confirmationSeconds: number): RegionFailoverSpec => ({
  activeRegion: "primary",
  automatic: { enabled: true, confirmationSeconds, minFailingSignals },
});

export async function startPartitionedPlatform(name: string): Promise<PartitionedPlatform> {
  const platform = await startFailoverPlatform({ name });
  const closers: (() => Promise<unknown>)[] = [() => platform.stop()];
  const stop = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };
  try {
    const client = new pg.Client({ connectionString: platform.adminUrls.primary });
    await client.connect();
    await client.query("CREATE TABLE split_brain_probe (region text, at timestamptz DEFAULT now())");
    await client.end();
    // The stacks' Secret gives the controller the primary's database URL; here it names the link.
    const operators = platform.platform.regions.secondary.workloads.find(
      (w) => w.deployment === "freight-operators",
    )!;
    const primaryUrl = operators.secretVolumes
      .flatMap((v) => Object.entries(v.keys))
      .find(([key]) => key === "PRIMARY_DATABASE_URL")![1];
    const database = new URL(primaryUrl);
    const app = new URL(platform.apps.primary.url);
    const link = {
      database: await startPartitionProxy({ host: database.hostname, port: Number(database.port) }),
      app: await startPartitionProxy({ host: app.hostname, port: Number(app.port) }),
    };
    closers.push(
      () => link.database.stop(),
      () => link.app.stop(),
    );
    const viaLink = join(mkdtempSync(join(tmpdir(), `${name}-`)), "PRIMARY_DATABASE_URL");
    writeFileSync(viaLink, link.database.via(primaryUrl));
    const operator = await platform.startOperator(name, {
      FAILOVER_PRIMARY_HEALTH_URL: `${link.app.via(platform.apps.primary.url).replace(/\/$/, "")}/readyz`,
      FAILOVER_PRIMARY_DB_ADMIN_URL_FILE: viaLink,
      FAILOVER_PRIMARY_DB_OPERATOR_URL_FILE: viaLink,
    });
    closers.push(() => operator.stop());
    const sampler = new WriteSampler(platform.adminUrls);
    closers.push(() => sampler.stop());
    return {
      platform,
      operator,
      link,
      sampler,
      partition(mode = "drop") {
        link.database.partition(mode);
        link.app.partition(mode);
      },
      heal() {
        link.database.heal();
        link.app.heal();
      },
      failoverWhere: (what, probe, timeoutMs = 60_000) =>
        waitFor(what, async () => probe(await platform.getFailover()), { timeoutMs, intervalMs: 200 }),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
