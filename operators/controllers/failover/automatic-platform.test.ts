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
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, quoteBody } from "../../../tools/platform/api-client.ts";
import { killHost } from "../../../tools/gameday/drill.ts";
import { waitFor } from "../../../tools/platform/operators.ts";
import {
  automatic as automaticSpec,
  signal,
  sleep,
  startPartitionedPlatform,
  type PartitionedPlatform,
} from "./partitioned-platform.ts";

let world: PartitionedPlatform;
const CONFIRMATION_SECONDS = 2;
const automatic = (minFailingSignals: number) => automaticSpec(minFailingSignals, CONFIRMATION_SECONDS);

beforeAll(async () => {
  world = await startPartitionedPlatform("automatic");
}, 300_000);

afterAll(async () => {
  await world?.stop();
});

describe("automatic primary-loss failover on the local platform", () => {
  it("reads the primary's Route 53 health check, as the stacks configure it, and shows it on status", async () => {
    await world.platform.applyFailover(automatic(3));
    const rf = await world.failoverWhere("all three signals healthy on status", (rf) =>
      rf.status?.automatic?.signals?.length === 3 && rf.status.automatic.signals.every((s) => s.healthy)
        ? rf
        : undefined,
    );
    expect(signal(rf, "dnsHealthCheck")).toEqual({
      signal: "dnsHealthCheck",
      healthy: true,
      detail: "3/3 Route 53 checkers see it healthy",
    });
    expect(world.platform.platform.healthCheckers.statusRequests).toBeGreaterThan(0);
    expect(rf.status?.automatic?.message).toMatch(/looks fine \(0\/3 signals failing, 3 needed\)/);
  }, 90_000);

  it("a partition between the regions is no loss: the DNS checkers still see the primary serving its clients", async () => {
    const from = Date.now();
    const api = apiClient(
      world.platform.apps.primary.url,
      world.platform.apiKeys["initech-shipping"] ?? Object.values(world.platform.apiKeys)[0]!,
    );
    world.partition();
    let quotes = 0;
    let serving = true;
    const clients = (async () => {
      while (serving) {
        if ((await api.post("/v1/quotes", quoteBody()).catch(() => undefined))?.status === 201) quotes += 1;
        await sleep(200);
      }
    })();
    try {
      const cut = await world.failoverWhere("the controller to lose sight of the primary", (rf) =>
        signal(rf, "database")?.healthy === false && signal(rf, "readiness")?.healthy === false
          ? rf
          : undefined,
      );
      expect(signal(cut, "dnsHealthCheck")?.healthy).toBe(true);
      expect(cut.status?.automatic?.message).toMatch(/2\/3 signals failing, 3 needed/);
      // Three confirmation windows: nothing is fenced or promoted.
      await sleep(3 * CONFIRMATION_SECONDS * 1000);
      const held = await world.platform.getFailover();
      expect(held.status?.phase).toBe("Steady");
      expect(held.status?.servingRegion).toBe("primary");
      expect(held.status?.fence).toBeUndefined();
      expect(signal(held, "database")?.healthy).toBe(false);
    } finally {
      serving = false;
      await clients;
    }
    expect(quotes).toBeGreaterThan(0);
    expect(world.sampler.between("primary", from)).toBeGreaterThan(0);
    expect(world.sampler.between("secondary", from)).toBe(0);

    // Healed: the controller sees the primary again and nothing has moved.
    const healedAt = Date.now();
    world.heal();
    await world.failoverWhere("all signals healthy again", (rf) =>
      rf.status?.automatic?.signals?.every((s) => s.healthy) ? rf : undefined,
    );
    await sleep(2 * CONFIRMATION_SECONDS * 1000);
    const after = await world.platform.getFailover();
    expect(after.status).toMatchObject({ phase: "Steady", servingRegion: "primary" });
    expect(world.sampler.between("primary", healedAt)).toBeGreaterThan(0);
    expect(world.sampler.between("secondary", from)).toBe(0);
  }, 120_000);

  it("a primary flapping every second for longer than the confirmation window starts no failover", async () => {
    await world.platform.applyFailover(automatic(2));
    await world.failoverWhere("the two-signal quorum on status", (rf) =>
      rf.status?.automatic?.message?.includes("2 needed") &&
      rf.status.automatic.signals?.every((s) => s.healthy)
        ? rf
        : undefined,
    );
    const before = (await world.platform.getFailover()).status?.automatic?.suspicionsCleared ?? 0;
    // The primary as the secondary sees it goes down (every connection reset, new ones refused)
    // and comes back every second, for five confirmation windows.
    const failing = new Set<string>();
    let flapping = true;
    const watcher = (async () => {
      while (flapping) {
        const rf = await world.platform.getFailover();
        for (const s of rf.status?.automatic?.signals ?? []) if (!s.healthy) failing.add(s.signal);
        await sleep(200);
      }
    })();
    const flapUntil = Date.now() + 5 * CONFIRMATION_SECONDS * 1000;
    try {
      while (Date.now() < flapUntil) {
        world.partition("refuse");
        await sleep(1000);
        world.heal();
        await sleep(1000);
      }
    } finally {
      world.heal();
      flapping = false;
      await watcher;
    }
    // It was seen going down: both signals through the link failed at some look.
    expect([...failing].sort()).toEqual(["database", "readiness"]);
    const after = await world.failoverWhere("the primary looking fine again", (rf) =>
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
    await world.platform.applyFailover(automatic(3));
    await world.failoverWhere("the three-signal quorum on status", (rf) =>
      rf.status?.automatic?.message?.includes("3 needed") &&
      rf.status.automatic.signals?.every((s) => s.healthy)
        ? rf
        : undefined,
    );
    let lossAt = 0;
    await killHost(world.platform.primary.server.process.pid!, () => (lossAt = Date.now()));
    const done = await world.failoverWhere(
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
    await waitFor(
      "the new primary to accept writes",
      () => world.sampler.between("secondary", promotedAt) > 0,
      {
        timeoutMs: 30_000,
      },
    );
    // Once: two more confirmation windows later it is the same flip, awaiting acknowledgement.
    await sleep(2 * CONFIRMATION_SECONDS * 1000);
    const later = (await world.platform.getFailover()).status!;
    expect(later.automatic?.triggeredAt).toBe(status.automatic?.triggeredAt);
    expect(later.automatic?.message).toMatch(/awaits acknowledgement/);
    // Over the whole file: the old primary took nothing after its loss, the replica nothing before
    // its promotion was requested.
    expect(world.sampler.between("primary", lossAt)).toBe(0);
    expect(world.sampler.between("secondary", 0, Date.parse(status.promotion!.requestedAt!))).toBe(0);
  }, 180_000);
});
