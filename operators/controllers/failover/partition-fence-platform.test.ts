// A partition between the regions with automatic mode needing two signals (database and readiness,
// both across the partition): the secondary's controller loses sight of the primary region while
// the primary keeps serving its own clients, so a flip starts. Split brain must still be
// impossible: the fence (standby.signal and a shutdown on the primary's host, as RDS's security
// group swap and reboot go through AWS's control plane, not the partitioned path) is confirmed
// before promotion, after which the old primary refuses every write; healing the partition
// changes nothing. Every write attempted on each database over the whole test is counted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, quoteBody } from "../../../tools/platform/api-client.ts";
import { waitFor } from "../../../tools/platform/operators.ts";
import {
  automatic,
  signal,
  sleep,
  startPartitionedPlatform,
  type PartitionedPlatform,
} from "./partitioned-platform.ts";

let world: PartitionedPlatform;
const CONFIRMATION_SECONDS = 2;

beforeAll(async () => {
  world = await startPartitionedPlatform("partition-fence");
}, 300_000);

afterAll(async () => {
  await world?.stop();
});

describe("a partition between the regions, two signals required", () => {
  it("fences the still-serving primary before promoting: never two writable primaries, and stable once healed", async () => {
    await world.platform.applyFailover(automatic(2, CONFIRMATION_SECONDS));
    await world.failoverWhere("all signals healthy", (rf) =>
      rf.status?.automatic?.message?.includes("2 needed") &&
      rf.status.automatic.signals?.every((s) => s.healthy)
        ? rf
        : undefined,
    );
    const { platform, sampler } = world;
    const api = apiClient(
      platform.apps.primary.url,
      platform.apiKeys["initech-shipping"] ?? Object.values(platform.apiKeys)[0]!,
    );
    const quotes: number[] = [];
    let serving = true;
    const clients = (async () => {
      while (serving) {
        if ((await api.post("/v1/quotes", quoteBody()).catch(() => undefined))?.status === 201)
          quotes.push(Date.now());
        await sleep(200);
      }
    })();
    const partitionedAt = Date.now();
    world.partition();
    let done;
    // The flip's course, for whoever reads the output: when each stage began after the cut.
    const course: string[] = [];
    try {
      done = await world.failoverWhere(
        "the automatic flip to complete",
        (rf) => {
          const seen = `${rf.status?.phase} ${rf.status?.stage ?? ""}`;
          if (course.at(-1)?.endsWith(seen) !== true)
            course.push(`${((Date.now() - partitionedAt) / 1000).toFixed(1)} s ${seen}`);
          if (rf.status?.phase === "Failed" || rf.status?.phase === "Aborted")
            throw new Error(`flip ended ${rf.status.phase}: ${rf.status.message}`);
          return rf.status?.phase === "Completed" ? rf : undefined;
        },
        120_000,
      );
    } finally {
      serving = false;
      await clients;
    }
    const status = done.status!;
    expect(status.servingRegion).toBe("secondary");
    // The partition, not a loss: the Route 53 checkers still saw the primary serving.
    expect(signal(done, "dnsHealthCheck")?.healthy).toBe(true);
    expect(signal(done, "database")?.healthy).toBe(false);
    const fencedAt = Date.parse(status.fence!.completedAt!);
    const promotedAt = Date.parse(status.promotion!.completedAt!);
    expect(fencedAt).toBeLessThanOrEqual(promotedAt);
    console.log(course.join("\n"));
    console.log(
      `partition to fence ${((fencedAt - partitionedAt) / 1000).toFixed(1)} s, to promotion ${((promotedAt - partitionedAt) / 1000).toFixed(1)} s; fence: ${status.fence?.method}`,
    );
    await waitFor("the new primary to accept writes", () => sampler.between("secondary", promotedAt) > 0, {
      timeoutMs: 30_000,
    });
    // The primary served its clients through the partition until it was fenced, and not after.
    expect(
      quotes.filter((t) => t >= partitionedAt && t < fencedAt).length +
        sampler.between("primary", partitionedAt, fencedAt),
    ).toBeGreaterThan(0);
    expect(quotes.filter((t) => t > fencedAt).length).toBe(0);
    expect(sampler.between("primary", fencedAt)).toBe(0);
    expect(sampler.between("secondary", 0, Date.parse(status.promotion!.requestedAt!))).toBe(0);

    // Healed: the controller sees the old primary again, fenced; nothing moves back.
    const healedAt = Date.now();
    world.heal();
    await sleep(3 * CONFIRMATION_SECONDS * 1000);
    const after = (await platform.getFailover()).status!;
    expect(after).toMatchObject({ phase: "Completed", servingRegion: "secondary" });
    expect(after.automatic?.triggeredAt).toBe(status.automatic?.triggeredAt);
    expect(after.automatic?.message).toMatch(/awaits acknowledgement/);
    expect(sampler.between("primary", healedAt)).toBe(0);
    expect(sampler.between("secondary", healedAt)).toBeGreaterThan(0);
    expect((await api.post("/v1/quotes", quoteBody())).status).not.toBe(201);
  }, 240_000);
});
