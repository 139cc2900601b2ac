// Both failover drills on the real local platform, short but complete, checked against the goals
// the runbook promises (issue 8): planned RTO <= 60 s, RPO 0, no failed reads, quote p95 <= 600 ms,
// secondary reads p95 <= 150 ms; primary loss promoted <= 60 s after detection, loss bounded by
// the replication lag at the moment of loss.
import { describe, expect, it } from "vitest";
import { formatReport, runGameDay } from "./drill.ts";

const quiet = () => undefined;

describe("failover game day", () => {
  it("planned: flips under load with no lost write and no failed read", async () => {
    const report = await runGameDay({
      scenario: "planned",
      warmupSeconds: 3,
      cooldownSeconds: 2,
      stepSeconds: 2,
      log: quiet,
    });
    console.log(formatReport(report));
    expect(report.status?.phase).toBe("Completed");
    expect(report.rtoSeconds).toBeLessThanOrEqual(60);
    expect(report.rpo.committedQuotes).toBeGreaterThan(50);
    expect(report.rpo.committedBookings).toBeGreaterThan(5);
    expect(report.rpo.lostWrites).toBe(0);
    expect(report.drill.failedReads).toBe(0);
    expect(report.window.reads).toBeGreaterThan(0);
    expect(report.window.quoteErrors).toBe(0);
    expect(report.window.quotes.count).toBeGreaterThan(0);
    expect(report.window.quotes.p95Ms).toBeLessThanOrEqual(600);
    expect(report.secondaryReads.count).toBeGreaterThan(0);
    expect(report.secondaryReads.p95Ms).toBeLessThanOrEqual(150);
    expect(report.lagAtCutoverSeconds).toBe(0);
  }, 240_000);

  it("primary-db-loss: automatic mode detects, fences and promotes with no human, and reports what was lost", async () => {
    const report = await runGameDay({
      scenario: "primary-db-loss",
      warmupSeconds: 3,
      cooldownSeconds: 2,
      log: quiet,
    });
    console.log(formatReport(report));
    expect(report.status?.phase).toBe("Completed");
    expect(report.status?.servingRegion).toBe("secondary");
    // Goals 5 s and 10 s on a quiet machine (docs/benchmarks.md); bounds here leave a loaded CI room.
    expect(report.primaryLoss!.detectionSeconds).toBeLessThan(15);
    expect(report.primaryLoss!.fenceSeconds).toBeLessThanOrEqual(report.primaryLoss!.promotionSeconds);
    expect(report.primaryLoss!.promotionSeconds).toBeLessThanOrEqual(30);
    expect(report.primaryLoss!.fenceMethod).toMatch(/standby\.signal written/);
    expect(report.primaryLoss!.writesAcceptedByFencedPrimary).toBe(0);
    expect(report.status?.automatic?.lostRegion).toBe("primary");
    // Only writes acknowledged in the last moments before the host died, whose WAL had not yet
    // streamed, can be missing; nothing sent after it (every process died with it). A loaded client may
    // receive an acknowledgement after the loss for a write committed before it, so send time decides.
    expect(report.rpo.lostSentAfterLoss).toBe(0);
    expect(report.rpo.lostWrites).toBeLessThan(
      (report.rpo.committedQuotes + report.rpo.committedBookings) / 20,
    );
    expect(report.rpo.oldestLostSecondsBeforeLoss).toBeLessThanOrEqual(
      Math.max(1, (report.primaryLoss!.lagBeforeLossSeconds ?? 0) + 1),
    );
    // After the flip, users are served by the secondary without errors.
    expect(report.secondaryReads.count).toBeGreaterThan(0);
  }, 420_000);
});
