// Idempotent answers survive a database crash: kill -9 of the real PostgreSQL (postmaster and every
// backend) in the middle of a burst of keyed writes on every write route (quotes, bookings, bulk jobs,
// limit-increase requests), crash recovery, then every request retried with its key. Every answer
// acknowledged before the crash replays identically, and each meter equals what the tenant holds, one
// per key. `npm run drill:idempotency-crash` does 20 crashes.
import { describe, expect, it } from "vitest";
import { runCrashDrill } from "../../tools/platform/idempotency-crash.ts";

describe("Idempotency-Key across a PostgreSQL crash", () => {
  it("loses no acknowledged answer and no meter count across three kill -9 crashes", async () => {
    const rounds = await runCrashDrill({ rounds: 3, clients: 16 });
    expect(rounds).toHaveLength(3);
    for (const round of rounds) {
      // The crash really hit the burst: answers were acknowledged before it, and requests were cut off.
      expect(round.acknowledged, `crash ${round.round}`).toBeGreaterThan(0);
      expect(round.sent, `crash ${round.round}`).toBeGreaterThan(round.acknowledged);
      expect(round.killedProcesses).toBeGreaterThan(5);
      expect(round.lost, `crash ${round.round}: acknowledged answers that did not replay`).toEqual([]);
      expect(round.meter, `crash ${round.round}: quotes meter`).toBe(round.answeredKeys);
      expect(round.quotes, `crash ${round.round}: quotes stored`).toBe(round.answeredKeys);
      expect(round.bulkMeter, `crash ${round.round}: bulk_jobs meter`).toBe(round.bulkJobs);
    }
    // Every write route had answers acknowledged before a crash, and kept them.
    for (const route of ["quote", "booking", "bulk-job", "limit-increase"] as const)
      expect(
        rounds.reduce((n, r) => n + r.acknowledgedByRoute[route], 0),
        `${route} answers acknowledged before the crashes`,
      ).toBeGreaterThan(0);
  }, 240_000);
});
