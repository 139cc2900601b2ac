// The failback game day on the local platform: under load, a planned flip primary -> secondary,
// the old primary rebuilt as a replica of the new one (the failover driver's rebuildReplica:
// pg_rewind, or a base backup when it cannot), a planned flip back, the other side rebuilt, and a
// flip again. Every write the API acknowledged must be on the final primary (planned flips lose
// nothing), and each rebuild reports its method and duration.
import { cpus, loadavg } from "node:os";
import type { Region, RegionFailover } from "../../operators/api/regionfailover.ts";
import { weightsFor } from "../../operators/controllers/failover/routing.ts";
import { startFailoverPlatform } from "../platform/regions.ts";
import { waitFor } from "../platform/operators.ts";
import { committedOnNewPrimary } from "./drill.ts";
import { LoadGenerator } from "./load.ts";

export interface FailbackReport {
  scenario: "failback";
  startedAt: string;
  machine: { cpus: number; loadAverage: number[] };
  flips: { to: Region; seconds: number; lagAtCutoverSeconds: number | undefined }[];
  rebuilds: {
    region: Region;
    method: string;
    fallbackReason?: string;
    /** The driver's rebuild, from the call to the replica streaming. */
    seconds: number;
    /** The call to the controller's FailbackReady. */
    failbackReadySeconds: number;
  }[];
  writes: { committedQuotes: number; committedBookings: number; lost: number; lostQuoteIds: string[] };
  requests: number;
  servingRegion: Region | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFailbackGameDay(
  options: { warmupSeconds?: number; stepSeconds?: number; log?: (line: string) => void } = {},
): Promise<FailbackReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const startedAt = new Date().toISOString();
  log("game day failback: starting the local platform (two regions, primary + replica, operators)");
  const platform = await startFailoverPlatform({ name: "gameday-failback", operators: "deployed" });
  try {
    await platform.applyFailover({ activeRegion: "primary" });
    await waitFor(
      "RegionFailover steady",
      async () => (await platform.getFailover()).status?.phase === "Steady",
    );
    let weights = { primary: 100, secondary: 0 };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          const s = (await platform.getFailover()).status;
          weights = s?.trafficWeights ?? weightsFor(s?.servingRegion ?? "primary", 100);
        } catch {
          /* a missed poll only delays a weight change */
        }
        await sleep(200);
      }
    })();
    const load = new LoadGenerator({
      urls: { primary: platform.apps.primary.url, secondary: platform.apps.secondary.url },
      apiKey: platform.apiKeys["initech-shipping"] ?? Object.values(platform.apiKeys)[0]!,
      weights: () => weights,
      concurrency: 4,
    });
    load.start();
    await sleep((options.warmupSeconds ?? 3) * 1000);

    const flips: FailbackReport["flips"] = [];
    const rebuilds: FailbackReport["rebuilds"] = [];
    const plan: [Region, Region | undefined][] = [
      ["secondary", "primary"],
      ["primary", "secondary"],
      ["secondary", undefined],
    ];
    let last: RegionFailover | undefined;
    for (const [to, rebuild] of plan) {
      log(`flipping to ${to} (Planned, 10 -> 50 -> 100 %)`);
      const t = Date.now();
      await platform.applyFailover({
        activeRegion: to,
        trafficSteps: [10, 50, 100],
        stepSeconds: options.stepSeconds ?? 2,
        healthGate: { consecutiveHealthyChecks: 2, maxP95LatencyMs: 600, maxErrorRatePercent: 1 },
      });
      last = await waitFor(
        `flip to ${to} completed`,
        async () => {
          const rf = await platform.getFailover();
          if (rf.status?.phase === "Failed" || rf.status?.phase === "Aborted")
            throw new Error(`flip to ${to} ended ${rf.status.phase}: ${rf.status.message}`);
          return rf.status?.phase === "Completed" && rf.status.servingRegion === to ? rf : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      flips.push({
        to,
        seconds: Math.round((Date.now() - t) / 100) / 10,
        lagAtCutoverSeconds: last.status?.lagAtCutoverSeconds,
      });
      if (!rebuild) continue;
      log(`rebuilding ${rebuild}'s database as a replica of ${to}'s`);
      const r = Date.now();
      const rebuilt = await platform.platform.rebuildReplica(rebuild);
      await waitFor(
        "FailbackReady",
        async () => (await platform.getFailover()).status?.failback?.ready === true,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      rebuilds.push({
        region: rebuild,
        method: rebuilt.rebuild.method,
        ...(rebuilt.rebuild.fallbackReason ? { fallbackReason: rebuilt.rebuild.fallbackReason } : {}),
        seconds: rebuilt.rebuild.seconds,
        failbackReadySeconds: Math.round((Date.now() - r) / 100) / 10,
      });
      log(`  ${rebuilt.rebuild.method} in ${rebuilt.rebuild.seconds} s`);
    }
    await sleep(1000);
    const result = await load.stop();
    polling = false;
    await poller;
    const lost = await committedOnNewPrimary(
      platform.adminUrls[last!.status!.servingRegion!],
      result.committedQuotes,
      result.committedBookings,
    );
    return {
      scenario: "failback",
      startedAt,
      machine: { cpus: cpus().length, loadAverage: loadavg().map((l) => Math.round(l * 100) / 100) },
      flips,
      rebuilds,
      writes: {
        committedQuotes: result.committedQuotes.length,
        committedBookings: result.committedBookings.length,
        lost: lost.lostQuotes.length + lost.lostBookings.length,
        lostQuoteIds: lost.lostQuotes.slice(0, 20),
      },
      requests: result.samples.length,
      servingRegion: last?.status?.servingRegion,
    };
  } finally {
    await platform.stop();
  }
}

export function formatFailbackReport(report: FailbackReport): string {
  return [
    `game day: failback (${report.machine.cpus} CPUs, load ${report.machine.loadAverage.join(" ")})`,
    ...report.flips.map(
      (f) =>
        `  flip to ${f.to.padEnd(9)}           ${f.seconds} s, lag at cutover ${f.lagAtCutoverSeconds ?? "?"} s`,
    ),
    ...report.rebuilds.map(
      (r) =>
        `  rebuild ${r.region.padEnd(9)}           ${r.method} in ${r.seconds} s, FailbackReady after ${r.failbackReadySeconds} s${r.fallbackReason ? ` (${r.fallbackReason})` : ""}`,
    ),
    `  writes                      ${report.writes.lost} lost of ${report.writes.committedQuotes} quotes and ${report.writes.committedBookings} bookings acknowledged`,
    `  serving at the end          ${report.servingRegion}`,
  ].join("\n");
}
