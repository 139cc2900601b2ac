// The failover game day on the local platform: both regions, real replication, the operators and
// a load generator for the whole drill, then the figures the runbook promises.
//
// planned          on-call flips spec.activeRegion to secondary under load; RPO must be 0.
// primary-db-loss  the primary PostgreSQL is SIGKILLed under load with automatic mode on
//                  (spec.automatic): the controller detects the loss from its signals, fences the
//                  old primary, promotes; no human acts. Loss is counted write by write, and writes
//                  offered to the fenced primary afterwards must all be refused.
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import pg from "pg";
import type { RegionFailover, RegionFailoverSpec } from "../../operators/api/regionfailover.ts";
import { weightsFor } from "../../operators/controllers/failover/routing.ts";
import { PostgresDatabaseDriver } from "../../operators/controllers/failover/drivers/postgres.ts";
import { startFailoverPlatform, type FailoverPlatform } from "../platform/regions.ts";
import { waitFor } from "../platform/operators.ts";
import { LoadGenerator, percentile, type Sample } from "./load.ts";

export type Scenario = "planned" | "primary-db-loss";

export interface DrillOptions {
  scenario: Scenario;
  /** Load before the flip or the loss, seconds. */
  warmupSeconds?: number;
  /** Load after the flip completed, seconds. */
  cooldownSeconds?: number;
  /** Hold per traffic step (planned), seconds. */
  stepSeconds?: number;
  concurrency?: number;
  log?: (line: string) => void;
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface DrillReport {
  scenario: Scenario;
  startedAt: string;
  machine: { cpus: number; cpuModel: string; node: string };
  /** Flip (or loss) to all traffic served by the new region, seconds. */
  rtoSeconds: number;
  /** Committed writes (quotes + bookings the API confirmed) missing on the new primary. */
  rpo: {
    lostWrites: number;
    committedQuotes: number;
    committedBookings: number;
    lostQuoteIds: string[];
    /** How long before the loss (or flip) the oldest lost write was acknowledged, seconds. */
    oldestLostSecondsBeforeLoss: number;
    /** Lost writes sent after the loss began: only the new primary can have committed them (should be none). */
    lostSentAfterLoss: number;
  };
  /** Replication lag the controller recorded at cutover, seconds. */
  lagAtCutoverSeconds: number | undefined;
  window: {
    seconds: number;
    quotes: LatencySummary;
    quoteErrors: number;
    /** Writes refused with 503 writes-frozen (by design during the cutover; nothing changed). */
    writesFrozen: number;
    reads: number;
    failedReads: number;
  };
  drill: { requests: number; failedReads: number; errors: number };
  secondaryReads: LatencySummary;
  stages: { stage: string; seconds: number }[];
  primaryLoss?: {
    /** Loss to the detector seeing it, seconds. */
    detectionSeconds: number;
    /** Loss to the replica accepting writes, seconds. */
    promotionSeconds: number;
    /** Loss to the old primary confirmed fenced, seconds. */
    fenceSeconds: number | undefined;
    /** How the controller fenced it. */
    fenceMethod: string | undefined;
    /** Writes acknowledged by the old primary after its fence: offered directly, and by the load. */
    writesAcceptedByFencedPrimary: number;
    /** Replication lag measured just before the kill (bytes / seconds). */
    lagBeforeLossBytes: number | undefined;
    lagBeforeLossSeconds: number | undefined;
  };
  status: RegionFailover["status"];
}

/** A postmaster and every process it started (/proc/<pid>/stat: "pid (comm) state ppid ..."). */
function hostProcesses(postmasterPid: number): number[] {
  const children = readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        // comm may hold spaces, so split after ")".
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmasterPid;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [postmasterPid, ...children];
}

/**
 * SIGKILLs a postmaster and every process it started, at once. Killing the postmaster alone is not
 * a host loss: its backends keep serving open connections (and committing) until they notice.
 * The processes are found first (scanning /proc takes a while on a busy machine), so the moment
 * of loss the drill records is the moment the signals go out.
 */
export async function killHost(postmasterPid: number, lossBegins: () => void): Promise<void> {
  const pids = hostProcesses(postmasterPid);
  lossBegins();
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  await waitFor("primary PostgreSQL gone", () => {
    try {
      process.kill(postmasterPid, 0);
      return false;
    } catch {
      return true;
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function summary(samples: Sample[]): LatencySummary {
  const ms = samples.map((s) => s.ms);
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    count: ms.length,
    p50Ms: round(percentile(ms, 50)),
    p95Ms: round(percentile(ms, 95)),
    p99Ms: round(percentile(ms, 99)),
  };
}

const isError = (s: Sample) =>
  !s.frozen && (s.status === 0 || s.status >= 500 || (s.op !== "book" && s.status >= 400));

export async function committedOnNewPrimary(
  url: string,
  quoteIds: string[],
  bookedIds: string[],
): Promise<{ lostQuotes: string[]; lostBookings: string[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const quotes = await client.query<{ id: string }>(
      "SELECT id::text FROM quotes WHERE id = ANY($1::uuid[])",
      [quoteIds],
    );
    const bookings = await client.query<{ id: string }>(
      "SELECT quote_id::text AS id FROM bookings WHERE quote_id = ANY($1::uuid[])",
      [bookedIds],
    );
    const haveQ = new Set(quotes.rows.map((r) => r.id));
    const haveB = new Set(bookings.rows.map((r) => r.id));
    return {
      lostQuotes: quoteIds.filter((id) => !haveQ.has(id)),
      lostBookings: bookedIds.filter((id) => !haveB.has(id)),
    };
  } finally {
    await client.end();
  }
}

/** 1 when the old primary acknowledges a write offered to it directly, 0 when it refuses it. */
async function writeToFencedPrimary(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("CREATE TABLE IF NOT EXISTS fence_probe (at timestamptz)");
    await client.query("INSERT INTO fence_probe VALUES (now())");
    return 1;
  } catch {
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function runGameDay(options: DrillOptions): Promise<DrillReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const scenario = options.scenario;
  const startedAt = new Date().toISOString();
  log(
    `game day ${scenario}: starting the local platform (two regions from the stacks' manifests: control planes, primary + replica, apps, runner, operators)`,
  );
  const platform: FailoverPlatform = await startFailoverPlatform({
    name: `gameday-${scenario}`,
    operators: "deployed",
  });
  try {
    await platform.applyFailover(
      scenario === "primary-db-loss"
        ? // On-call opts in (the prod stacks leave it off): 2 s of both signals failing confirms.
          {
            activeRegion: "primary",
            automatic: { enabled: true, confirmationSeconds: 2, minFailingSignals: 2 },
          }
        : { activeRegion: "primary" },
    );
    await waitFor(
      "RegionFailover steady",
      async () => (await platform.getFailover()).status?.phase === "Steady",
    );

    let failover: RegionFailover | undefined;
    let weights = { primary: 100, secondary: 0 };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          failover = await platform.getFailover();
          const s = failover.status;
          weights = s?.trafficWeights ?? weightsFor(s?.servingRegion ?? "primary", 100);
        } catch {
          /* the API server is local; a missed poll only delays a weight change */
        }
        await sleep(200);
      }
    })();

    const load = new LoadGenerator({
      urls: { primary: platform.apps.primary.url, secondary: platform.apps.secondary.url },
      apiKey: platform.apiKeys["initech-shipping"] ?? Object.values(platform.apiKeys)[0]!,
      weights: () => weights,
      concurrency: options.concurrency ?? 4,
    });
    load.start();
    await sleep((options.warmupSeconds ?? 5) * 1000);

    let windowStart: number;
    let primaryLoss: DrillReport["primaryLoss"];
    if (scenario === "planned") {
      windowStart = Date.now();
      log("flipping spec.activeRegion to secondary (Planned, 10 -> 50 -> 100 %)");
      const spec: RegionFailoverSpec = {
        activeRegion: "secondary",
        trafficSteps: [10, 50, 100],
        stepSeconds: options.stepSeconds ?? 3,
        healthGate: { consecutiveHealthyChecks: 2, maxP95LatencyMs: 600, maxErrorRatePercent: 1 },
      };
      await platform.applyFailover(spec);
    } else {
      const lag = await new PostgresDatabaseDriver({
        primary: platform.adminUrls.primary,
        secondary: platform.adminUrls.secondary,
      });
      const before = await lag.replication("secondary").catch(() => undefined);
      await lag.close();
      log("killing the primary PostgreSQL and all its processes (SIGKILL), as a host loss");
      windowStart = Date.now();
      await killHost(platform.primary.server.process.pid!, () => (windowStart = Date.now()));
      log("automatic mode: waiting for the controller to detect, fence and promote");
      primaryLoss = {
        detectionSeconds: 0,
        promotionSeconds: 0,
        fenceSeconds: undefined,
        fenceMethod: undefined,
        writesAcceptedByFencedPrimary: 0,
        lagBeforeLossBytes: before?.lagBytes,
        lagBeforeLossSeconds: before?.lagSeconds,
      };
    }

    let lastSeen = "";
    const done = await waitFor(
      "flip completed",
      async () => {
        const rf = await platform.getFailover();
        const seen = `${rf.status?.phase} ${rf.status?.stage ?? ""}: ${rf.status?.message} | ${rf.status?.automatic?.message ?? ""}`;
        if (seen !== lastSeen)
          log(`  ${((Date.now() - windowStart) / 1000).toFixed(1)} s ${(lastSeen = seen)}`);
        if (rf.status?.phase === "Failed" || rf.status?.phase === "Aborted")
          throw new Error(`flip ended ${rf.status.phase}: ${rf.status.message}`);
        return rf.status?.phase === "Completed" ? rf : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    const windowEnd = Date.now();
    log(`flip completed: ${done.status?.message}`);
    await sleep((options.cooldownSeconds ?? 3) * 1000);
    const result = await load.stop();
    polling = false;
    await poller;

    const status = done.status!;
    if (primaryLoss) {
      const since = (at: string | undefined) => (at ? (Date.parse(at) - windowStart) / 1000 : NaN);
      // The automatic flip starts the moment the loss is confirmed: that is detection.
      primaryLoss.detectionSeconds = since(status.automatic?.triggeredAt ?? status.startedAt);
      primaryLoss.promotionSeconds = since(status.promotion?.completedAt);
      primaryLoss.fenceSeconds = since(status.fence?.completedAt);
      primaryLoss.fenceMethod = status.fence?.method;
      const fencedAt = Date.parse(status.fence?.completedAt ?? new Date(windowEnd).toISOString());
      primaryLoss.writesAcceptedByFencedPrimary =
        result.samples.filter(
          (s) => s.servedBy === "primary" && s.at > fencedAt && (s.op === "quote" ? s.status === 201 : false),
        ).length + (await writeToFencedPrimary(platform.adminUrls.primary));
    }
    const newPrimary = platform.adminUrls.secondary;
    const lost = await committedOnNewPrimary(newPrimary, result.committedQuotes, result.committedBookings);
    const inWindow = result.samples.filter((s) => s.at >= windowStart && s.at <= windowEnd);
    const okQuotes = inWindow.filter((s) => s.op === "quote" && s.status === 201);
    const reads = result.samples.filter((s) => s.op === "read");
    const stages = (status.stages ?? []).map((t) => ({
      stage: t.stage,
      seconds: t.finishedAt ? (Date.parse(t.finishedAt) - Date.parse(t.startedAt)) / 1000 : 0,
    }));
    const rto =
      scenario === "planned"
        ? (status.rtoSeconds ?? (windowEnd - windowStart) / 1000)
        : (Date.parse(
            status.stages?.find((s) => s.stage === "Unfreeze")?.startedAt ??
              new Date(windowEnd).toISOString(),
          ) -
            windowStart) /
          1000;
    return {
      scenario,
      startedAt,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version },
      rtoSeconds: Math.round(rto * 10) / 10,
      rpo: {
        lostWrites: lost.lostQuotes.length + lost.lostBookings.length,
        committedQuotes: result.committedQuotes.length,
        committedBookings: result.committedBookings.length,
        lostQuoteIds: lost.lostQuotes.slice(0, 20),
        oldestLostSecondsBeforeLoss:
          Math.round(
            Math.max(
              0,
              ...[...lost.lostQuotes, ...lost.lostBookings.map((id) => `book:${id}`)].map(
                (id) => windowStart - (result.committedAt.get(id) ?? windowStart),
              ),
            ) / 10,
          ) / 100,
        lostSentAfterLoss: [...lost.lostQuotes, ...lost.lostBookings.map((id) => `book:${id}`)].filter(
          (id) => (result.sentAt.get(id) ?? 0) > windowStart,
        ).length,
      },
      lagAtCutoverSeconds: status.lagAtCutoverSeconds,
      window: {
        seconds: Math.round((windowEnd - windowStart) / 100) / 10,
        quotes: summary(okQuotes),
        quoteErrors: inWindow.filter((s) => s.op === "quote" && isError(s)).length,
        writesFrozen: inWindow.filter((s) => s.frozen).length,
        reads: inWindow.filter((s) => s.op === "read").length,
        failedReads: inWindow.filter((s) => s.op === "read" && s.status !== 200).length,
      },
      drill: {
        requests: result.samples.length,
        failedReads: reads.filter((s) => s.status !== 200).length,
        errors: result.samples.filter(isError).length,
      },
      secondaryReads: summary(reads.filter((s) => s.servedBy === "secondary" && s.status === 200)),
      stages,
      primaryLoss,
      status,
    };
  } finally {
    await platform.stop();
  }
}

export function formatReport(report: DrillReport): string {
  const lines = [
    `game day: ${report.scenario} (${report.machine.cpus} CPUs, ${report.machine.cpuModel}, node ${report.machine.node})`,
    `  RTO                       ${report.rtoSeconds} s`,
    `  RPO                       ${report.rpo.lostWrites} committed writes lost (of ${report.rpo.committedQuotes} quotes, ${report.rpo.committedBookings} bookings)${report.rpo.lostWrites ? `, acknowledged at most ${report.rpo.oldestLostSecondsBeforeLoss} s before the loss` : ""}`,
    `  lag at cutover            ${report.lagAtCutoverSeconds ?? "?"} s`,
    `  window                    ${report.window.seconds} s`,
    `  quotes in window          ${report.window.quotes.count} ok, p50 ${report.window.quotes.p50Ms} ms, p95 ${report.window.quotes.p95Ms} ms, p99 ${report.window.quotes.p99Ms} ms`,
    `  quote errors in window    ${report.window.quoteErrors} (plus ${report.window.writesFrozen} writes refused while frozen)`,
    `  reads in window           ${report.window.reads}, failed ${report.window.failedReads}`,
    `  secondary reads           ${report.secondaryReads.count}, p95 ${report.secondaryReads.p95Ms} ms`,
    `  whole drill               ${report.drill.requests} requests, ${report.drill.errors} errors, ${report.drill.failedReads} failed reads`,
    `  stages                    ${report.stages.map((s) => `${s.stage} ${s.seconds}s`).join(", ")}`,
  ];
  if (report.primaryLoss) {
    const l = report.primaryLoss;
    lines.push(
      `  detection                 ${l.detectionSeconds.toFixed(1)} s after the kill (automatic, confirmed)`,
      `  fence                     ${l.fenceSeconds?.toFixed(1) ?? "?"} s after the kill: ${l.fenceMethod ?? "?"}`,
      `  promotion                 ${l.promotionSeconds.toFixed(1)} s after the kill`,
      `  writes taken when fenced  ${l.writesAcceptedByFencedPrimary}`,
      `  lag just before the kill  ${l.lagBeforeLossBytes ?? "?"} bytes, ${l.lagBeforeLossSeconds ?? "?"} s`,
    );
  }
  return lines.join("\n");
}
