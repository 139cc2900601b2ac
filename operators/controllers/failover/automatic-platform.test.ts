// Automatic primary-loss failover on the two-region local platform, with the failover controller
// (the secondary's operators, the stacks' environment) looking at the primary region through a
// link that can be partitioned (tools/platform/partition-proxy.ts) and reading the primary's
// Route 53 health check from the local checkers. In order, on one platform: the DNS signal is on
// status; a partition between the regions while the primary keeps serving is no loss when all
// three signals are required (the DNS checkers still see the primary), and healing it changes
// nothing; a primary that goes down and comes back every second (as the secondary sees it) never
// starts a failover, and status counts the suspicions cleared; a real loss afterwards fails over exactly once, fence before promotion.
// Over the whole file every write attempted on each region's database is counted: never both
// accept writes at once.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Region, RegionFailover, RegionFailoverSpec } from "../../api/regionfailover.ts";
import { apiClient, quoteBody } from "../../../tools/platform/api-client.ts";
import { killHost } from "../../../tools/gameday/drill.ts";
import { waitFor, type OperatorProcess } from "../../../tools/platform/operators.ts";
import { startPartitionProxy, type PartitionProxy } from "../../../tools/platform/partition-proxy.ts";
import { startFailoverPlatform, type FailoverPlatform } from "../../../tools/platform/regions.ts";

let platform: FailoverPlatform;
let operator: OperatorProcess;
/** The secondary region's view of the primary region: its database and its app. */
let link: { database: PartitionProxy; app: PartitionProxy };
let sampler: WriteSampler;

const CONFIRMATION_SECONDS = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tries a write on each region's database every 250 ms, over the whole file. */
class WriteSampler {
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

  between(region: Region, from: number, to = Date.now()): number {
    return this.accepted[region].filter((t) => t >= from && t <= to).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function failoverWhere<T>(
  what: string,
  probe: (rf: RegionFailover) => T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  return waitFor(what, async () => probe(await platform.getFailover()), { timeoutMs, intervalMs: 200 });
}

const signal = (rf: RegionFailover, name: string) =>
  rf.status?.automatic?.signals?.find((s) => s.signal === name);

const automatic = (minFailingSignals: number): RegionFailoverSpec => ({
  activeRegion: "primary",
  automatic: { enabled: true, confirmationSeconds: CONFIRMATION_SECONDS, minFailingSignals },
});

beforeAll(async () => {
  platform = await startFailoverPlatform({ name: "automatic" });
  await sql(
    platform.adminUrls.primary,
    "CREATE TABLE split_brain_probe (region text, at timestamptz DEFAULT now())",
  );
  // The controller dials the primary region's database and app through the link; the stacks'
  // Secret gives it the database's URL, written here pointing at the link instead.
  const operators = platform.platform.regions.secondary.workloads.find(
    (w) => w.deployment === "freight-operators",
  )!;
  const primaryUrl = operators.secretVolumes
    .flatMap((v) => Object.entries(v.keys))
    .find(([key]) => key === "PRIMARY_DATABASE_URL")![1];
  const database = new URL(primaryUrl);
  const app = new URL(platform.apps.primary.url);
  link = {
    database: await startPartitionProxy({ host: database.hostname, port: Number(database.port) }),
    app: await startPartitionProxy({ host: app.hostname, port: Number(app.port) }),
  };
  const dir = mkdtempSync(join(tmpdir(), "automatic-failover-"));
  const viaLink = join(dir, "PRIMARY_DATABASE_URL");
  writeFileSync(viaLink, link.database.via(primaryUrl));
  operator = await platform.startOperator("automatic", {
    FAILOVER_PRIMARY_HEALTH_URL: `${link.app.via(platform.apps.primary.url).replace(/\/$/, "")}/readyz`,
    FAILOVER_PRIMARY_DB_ADMIN_URL_FILE: viaLink,
    FAILOVER_PRIMARY_DB_OPERATOR_URL_FILE: viaLink,
  });
  sampler = new WriteSampler(platform.adminUrls);
}, 300_000);

afterAll(async () => {
  await sampler?.stop();
  await operator?.stop();
  await link?.database.stop();
  await link?.app.stop();
  await platform?.stop();
});

describe("automatic primary-loss failover on the local platform", () => {
  it("reads the primary's Route 53 health check, as the stacks configure it, and shows it on status", async () => {
    await platform.applyFailover(automatic(3));
    const rf = await failoverWhere("all three signals healthy on status", (rf) =>
      rf.status?.automatic?.signals?.length === 3 && rf.status.automatic.signals.every((s) => s.healthy)
        ? rf
        : undefined,
    );
    expect(signal(rf, "dnsHealthCheck")).toEqual({
      signal: "dnsHealthCheck",
      healthy: true,
      detail: "3/3 Route 53 checkers see it healthy",
    });
    expect(platform.platform.healthCheckers.statusRequests).toBeGreaterThan(0);
    expect(rf.status?.automatic?.message).toMatch(/looks fine \(0\/3 signals failing, 3 needed\)/);
  }, 90_000);

  it("a partition between the regions is no loss: the DNS checkers still see the primary serving its clients", async () => {
    const from = Date.now();
    const api = apiClient(
      platform.apps.primary.url,
      platform.apiKeys["initech-shipping"] ?? Object.values(platform.apiKeys)[0]!,
    );
    link.database.partition();
    link.app.partition();
    let quotes = 0;
    let serving = true;
    const clients = (async () => {
      while (serving) {
        if ((await api.post("/v1/quotes", quoteBody()).catch(() => undefined))?.status === 201) quotes += 1;
        await sleep(200);
      }
    })();
    try {
      const cut = await failoverWhere("the controller to lose sight of the primary", (rf) =>
        signal(rf, "database")?.healthy === false && signal(rf, "readiness")?.healthy === false
          ? rf
          : undefined,
      );
      expect(signal(cut, "dnsHealthCheck")?.healthy).toBe(true);
      expect(cut.status?.automatic?.message).toMatch(/2\/3 signals failing, 3 needed/);
      // Three confirmation windows: nothing is fenced or promoted.
      await sleep(3 * CONFIRMATION_SECONDS * 1000);
      const held = await platform.getFailover();
      expect(held.status?.phase).toBe("Steady");
      expect(held.status?.servingRegion).toBe("primary");
      expect(held.status?.fence).toBeUndefined();
      expect(signal(held, "database")?.healthy).toBe(false);
    } finally {
      serving = false;
      await clients;
    }
    expect(quotes).toBeGreaterThan(0);
    expect(sampler.between("primary", from)).toBeGreaterThan(0);
    expect(sampler.between("secondary", from)).toBe(0);

    // Healed: the controller sees the primary again and nothing has moved.
    const healedAt = Date.now();
    link.database.heal();
    link.app.heal();
    await failoverWhere("all signals healthy again", (rf) =>
      rf.status?.automatic?.signals?.every((s) => s.healthy) ? rf : undefined,
    );
    await sleep(2 * CONFIRMATION_SECONDS * 1000);
    const after = await platform.getFailover();
    expect(after.status).toMatchObject({ phase: "Steady", servingRegion: "primary" });
    expect(sampler.between("primary", healedAt)).toBeGreaterThan(0);
    expect(sampler.between("secondary", from)).toBe(0);
  }, 120_000);

  it("a primary flapping every second for longer than the confirmation window starts no failover", async () => {
    await platform.applyFailover(automatic(2));
    await failoverWhere("the two-signal quorum on status", (rf) =>
      rf.status?.automatic?.message?.includes("2 needed") &&
      rf.status.automatic.signals?.every((s) => s.healthy)
        ? rf
        : undefined,
    );
    const before = (await platform.getFailover()).status?.automatic?.suspicionsCleared ?? 0;
    // The primary as the secondary sees it goes down (every connection reset, new ones refused)
    // and comes back every second, for five confirmation windows.
    const failing = new Set<string>();
    let flapping = true;
    const watcher = (async () => {
      while (flapping) {
        const rf = await platform.getFailover();
        for (const s of rf.status?.automatic?.signals ?? []) if (!s.healthy) failing.add(s.signal);
        await sleep(200);
      }
    })();
    const flapUntil = Date.now() + 5 * CONFIRMATION_SECONDS * 1000;
    try {
      while (Date.now() < flapUntil) {
        link.database.partition("refuse");
        link.app.partition("refuse");
        await sleep(1000);
        link.database.heal();
        link.app.heal();
        await sleep(1000);
      }
    } finally {
      link.database.heal();
      link.app.heal();
      flapping = false;
      await watcher;
    }
    // It was seen going down: both signals through the link failed at some look.
    expect([...failing].sort()).toEqual(["database", "readiness"]);
    const after = await failoverWhere("the primary looking fine again", (rf) =>
      rf.status?.automatic?.signals?.every((s) => s.healthy) ? rf : undefined,
    );
    expect(after.status?.phase).toBe("Steady");
    expect(after.status?.servingRegion).toBe("primary");
    expect(after.status?.fence).toBeUndefined();
    expect(after.status?.automatic?.triggeredAt).toBeUndefined();
    expect(after.status?.automatic?.suspicionsCleared ?? 0).toBeGreaterThan(before);
  }, 120_000);

  it("a real loss afterwards fails over exactly once: fenced, then promoted, and never two writable primaries", async () => {
    // All three signals required again: the configuration a partition cannot trigger must still
    // see a real loss, the DNS checkers included.
    await platform.applyFailover(automatic(3));
    await failoverWhere("the three-signal quorum on status", (rf) =>
      rf.status?.automatic?.message?.includes("3 needed") &&
      rf.status.automatic.signals?.every((s) => s.healthy)
        ? rf
        : undefined,
    );
    let lossAt = 0;
    await killHost(platform.primary.server.process.pid!, () => (lossAt = Date.now()));
    const done = await failoverWhere(
      "the automatic flip to complete",
      (rf) => {
        if (rf.status?.phase === "Failed" || rf.status?.phase === "Aborted")
          throw new Error(`flip ended ${rf.status.phase}: ${rf.status.message}`);
        return rf.status?.phase === "Completed" ? rf : undefined;
      },
      120_000,
    );
    const status = done.status!;
    expect(status.servingRegion).toBe("secondary");
    expect(status.automatic?.lostRegion).toBe("primary");
    expect(signal(done, "dnsHealthCheck")).toMatchObject({
      healthy: false,
      detail: expect.stringMatching(
        /^0\/3 Route 53 checkers see it healthy; .*: Failure: HTTP Status Code 503/,
      ),
    });
    expect(Date.parse(status.fence!.completedAt!)).toBeLessThanOrEqual(
      Date.parse(status.promotion!.completedAt!),
    );
    const promotedAt = Date.parse(status.promotion!.completedAt!);
    console.log(
      `detection ${((Date.parse(status.automatic!.triggeredAt!) - lossAt) / 1000).toFixed(1)} s, promotion ${((promotedAt - lossAt) / 1000).toFixed(1)} s after the loss`,
    );
    await waitFor("the new primary to accept writes", () => sampler.between("secondary", promotedAt) > 0, {
      timeoutMs: 30_000,
    });
    // Once: two more confirmation windows later it is the same flip, awaiting acknowledgement.
    await sleep(2 * CONFIRMATION_SECONDS * 1000);
    const later = (await platform.getFailover()).status!;
    expect(later.automatic?.triggeredAt).toBe(status.automatic?.triggeredAt);
    expect(later.automatic?.message).toMatch(/awaits acknowledgement/);
    // Over the whole file: the old primary took nothing after its loss, the replica nothing before
    // its promotion was requested.
    expect(sampler.between("primary", lossAt)).toBe(0);
    expect(sampler.between("secondary", 0, Date.parse(status.promotion!.requestedAt!))).toBe(0);
  }, 180_000);
});
