// The "LLM provider degraded" game day: the quote API and a runner over a real PostgreSQL,
// the runner calling the local OpenAI-compatible stand-in (tools/fakes/llm-server.ts) with its key in
// LLM_API_KEY_FILE as the stacks mount it, users quoting and
// booking the whole time while shippers' emails and quote explanations are queued for the assistant.
// The provider is healthy (baseline), then degraded in turn three ways (slower than the timeout,
// failing with 500s, rate-limiting with 429 + Retry-After), then healthy again (recovery). Measured:
//   - agent task successes per minute over the drill, and where each result came from
//   - time from the fault to the breaker opening, and from recovery to it closing
//   - quote p95 during the fault against the baseline of the same run; failed quotes and bookings
//   - every queued task finished after recovery (none failed, none still waiting)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { LocalLlmServer, type LlmModeSettings } from "../fakes/llm-server.ts";
import { apiClient } from "../platform/api-client.ts";
import { startTestApp } from "../platform/app.ts";
import { startTestRunner } from "../platform/runner.ts";
import { createPool } from "../../app/db/pool.ts";
import { LoadGenerator, percentile, type Sample } from "./load.ts";

export interface LlmDrillOptions {
  baselineSeconds?: number;
  /** The fault, split evenly between slow, failing and rate-limited. */
  faultSeconds?: number;
  /** How long recovery may take for every task to finish. */
  recoverySeconds?: number;
  /** Assistant tasks queued per second during the whole drill. */
  tasksPerSecond?: number;
  log?: (line: string) => void;
}

export interface LlmDrillReport {
  scenario: "llm-degraded";
  startedAt: string;
  machine: { cpus: number; cpuModel: string; node: string };
  settings: { llmTimeoutMs: number; breakerFailures: number; breakerHalfOpenMs: number };
  faults: { mode: string; seconds: number }[];
  breaker: {
    /** Fault start to the circuit open, seconds. */
    openedAfterSeconds: number | undefined;
    /** Provider healthy again to the circuit closed, seconds. */
    closedAfterSeconds: number | undefined;
    /** /readyz said "degraded" (and answered 200) while the circuit was open. */
    readyzDegradedSeen: boolean;
    readyzNon200: number;
  };
  quotes: {
    baseline: { count: number; p95Ms: number };
    fault: { count: number; p95Ms: number };
    /** Fault p95 over baseline p95, e.g. 1.04. */
    p95Ratio: number;
    errors: number;
  };
  bookings: { confirmed: number; errors: number };
  tasks: {
    queued: number;
    succeeded: number;
    failed: number;
    /** Still queued, running or retrying at the end: lost for the user if non-zero. */
    unfinished: number;
    bySource: Record<string, number>;
    /** Times a task was put back uncounted while the provider was unavailable. */
    deferrals: number;
  };
  /** Agent task successes per minute, in 3-second buckets from the start of the drill. */
  successPerMinute: { atSeconds: number; phase: string; perMinute: number }[];
  recoverySeconds: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const EMAILS = [
  "Need a reefer from Atlanta, GA to Chicago, IL, 40,000 lbs, pickup 2026-12-14.",
  "Flatbed Houston, TX to Denver, CO please, 45000 lbs, ready 2026-12-16.",
  "Dry van Los Angeles, CA -> Phoenix, AZ, 30k, pickup 2026-12-11.",
];

export async function runLlmGameDay(options: LlmDrillOptions = {}): Promise<LlmDrillReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const baselineSeconds = options.baselineSeconds ?? 8;
  const faultSeconds = options.faultSeconds ?? 12;
  const recoveryLimit = options.recoverySeconds ?? 25;
  const tasksPerSecond = options.tasksPerSecond ?? 4;
  const settings = { llmTimeoutMs: 500, breakerFailures: 3, breakerHalfOpenMs: 1_000 };
  const startedAt = new Date().toISOString();
  log("game day llm-degraded: starting PostgreSQL, the quote API, a runner and the LLM stand-in");
  const llm = new LocalLlmServer();
  await llm.start();
  const app = await startTestApp({ seed: "demo" });
  const secrets = mkdtempSync(join(tmpdir(), "gameday-llm-"));
  writeFileSync(join(secrets, "LLM_API_KEY"), llm.apiKey);
  // In this process, to keep the drill short enough for CI: the runner's retries and timeouts share
  // the API's event loop here, which makes the quote p95 comparison stricter than in a region.
  const runner = await startTestRunner(app.db.urls.runner, {
    LLM_BASE_URL: llm.baseUrl,
    LLM_API_KEY_FILE: join(secrets, "LLM_API_KEY"),
    LLM_TIMEOUT_MS: String(settings.llmTimeoutMs),
    LLM_BREAKER_FAILURES: String(settings.breakerFailures),
    LLM_BREAKER_HALF_OPEN_MS: String(settings.breakerHalfOpenMs),
    // Attempts that fail before the circuit opens are retried within 2 s (production: up to 10 min).
    RUNNER_RETRY_MAX_MS: "2000",
  });
  const ops = createPool(app.db.urls.ops, 2);
  try {
    const tenantKey = app.apiKeys["acme-logistics"]!;
    const client = apiClient(app.url, tenantKey);
    const load = new LoadGenerator({
      urls: { primary: app.url, secondary: app.url },
      apiKey: app.apiKeys["initech-shipping"]!,
      weights: () => ({ primary: 100, secondary: 0 }),
      concurrency: 3,
      thinkMs: 30,
    });
    const t0 = Date.now();
    let phase = "baseline";
    const phases: { phase: string; from: number }[] = [{ phase, from: 0 }];
    const setPhase = (next: string) => {
      phase = next;
      phases.push({ phase: next, from: Date.now() - t0 });
    };

    // The breaker and readiness, watched every 50 ms.
    let watching = true;
    let openedAt: number | undefined;
    let closedAt: number | undefined;
    let faultAt = 0;
    let healedAt = 0;
    let readyzDegradedSeen = false;
    let readyzNon200 = 0;
    const watcher = (async () => {
      while (watching) {
        const ready = await fetch(`${runner.url}/readyz`).catch(() => undefined);
        if (!ready || ready.status !== 200) readyzNon200++;
        else {
          const body = (await ready.json()) as { status: string; llm?: { circuit: string } };
          const state = body.llm?.circuit;
          if (faultAt && openedAt === undefined && state === "open") openedAt = Date.now();
          if (healedAt && closedAt === undefined && state === "closed") closedAt = Date.now();
          if (body.status === "degraded") readyzDegradedSeen = true;
        }
        await sleep(50);
      }
    })();

    // Shippers' emails and explanations, queued through the API for the whole drill.
    const queued: string[] = [];
    let producing = true;
    const quoteIds: string[] = [];
    const producer = (async () => {
      let i = 0;
      while (producing) {
        i++;
        if (i % 3 === 0 && quoteIds.length) {
          const id = quoteIds[i % quoteIds.length]!;
          const r = await client.post<{ id: string }>(`/v1/quotes/${id}/explanation`);
          if (r.status === 202) queued.push(r.body.id);
        } else {
          const r = await client.post<{ id: string }>("/v1/assistant/quote-requests", {
            subject: "Quote request",
            body: EMAILS[i % EMAILS.length],
          });
          if (r.status === 202) queued.push(r.body.id);
        }
        await sleep(1000 / tasksPerSecond);
      }
    })();
    for (let i = 0; i < 3; i++) {
      const q = await client.post<{ id: string }>("/v1/quotes", {
        origin: "Chicago, IL",
        destination: "Dallas, TX",
        equipment: "dry_van",
        weightLbs: 38_000,
        pickupDate: new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10),
      });
      if (q.status === 201) quoteIds.push(q.body.id);
    }

    load.start();
    log(`baseline: provider healthy for ${baselineSeconds} s`);
    await sleep(baselineSeconds * 1000);
    const faults: { mode: string; seconds: number; settings: LlmModeSettings }[] = [
      {
        mode: "slow",
        seconds: faultSeconds / 3,
        settings: { mode: "slow", delayMs: settings.llmTimeoutMs * 4 },
      },
      { mode: "failing", seconds: faultSeconds / 3, settings: { mode: "failing" } },
      {
        mode: "rate-limit",
        seconds: faultSeconds / 3,
        settings: { mode: "rate-limit", retryAfterSeconds: 1 },
      },
    ];
    const faultStartMs = Date.now() - t0;
    setPhase("fault");
    faultAt = Date.now();
    for (const fault of faults) {
      log(`fault: provider ${fault.mode} for ${fault.seconds} s`);
      llm.setMode(fault.settings);
      await sleep(fault.seconds * 1000);
    }
    const faultEndMs = Date.now() - t0;
    llm.setMode({ mode: "ok" });
    healedAt = Date.now();
    setPhase("recovery");
    log("recovery: provider healthy; waiting for every queued task to finish");
    producing = false;
    await producer;
    // Quotes keep flowing a few seconds into recovery, then stop; the tasks drain meanwhile.
    await sleep(2_000);
    const loadResult = await load.stop();
    const unfinished = async () =>
      Number(
        (
          await ops.query<{ n: string }>(
            "SELECT count(*) AS n FROM agent_tasks WHERE id = ANY($1::uuid[]) AND status NOT IN ('success', 'failed')",
            [queued],
          )
        ).rows[0]!.n,
      );
    const deadline = healedAt + recoveryLimit * 1000;
    while ((await unfinished()) > 0 && Date.now() < deadline) await sleep(200);
    const recoverySeconds = (Date.now() - healedAt) / 1000;
    watching = false;
    await watcher;

    const { rows } = await ops.query<{ status: string; source: string | null; finished_at: Date | null }>(
      "SELECT status, result->>'source' AS source, finished_at FROM agent_tasks WHERE id = ANY($1::uuid[])",
      [queued],
    );
    const bySource: Record<string, number> = {};
    for (const row of rows)
      if (row.status === "success")
        bySource[row.source ?? "none"] = (bySource[row.source ?? "none"] ?? 0) + 1;
    const metrics = await (await fetch(`${runner.url}/metrics`)).text();
    const deferrals = [
      ...metrics.matchAll(/agent_task_fallbacks_total\{[^}]*fallback="deferred"[^}]*\} (\d+)/g),
    ].reduce((sum, m) => sum + Number(m[1]), 0);

    const quotesIn = (from: number, to: number) =>
      loadResult.samples.filter((s) => s.op === "quote" && s.at - t0 >= from && s.at - t0 < to);
    const p95 = (samples: Sample[]) =>
      Math.round(
        percentile(
          samples.map((s) => s.ms),
          95,
        ) * 10,
      ) / 10;
    // The first second of load warms connections and JIT: not part of the baseline.
    const baseline = quotesIn(1000, faultStartMs);
    const during = quotesIn(faultStartMs, faultEndMs);
    const isError = (s: Sample) => s.status === 0 || s.status >= 500 || (s.op !== "book" && s.status >= 400);
    const bucketMs = 3_000;
    const successPerMinute: LlmDrillReport["successPerMinute"] = [];
    const endMs = Date.now() - t0;
    for (let from = 0; from < endMs; from += bucketMs) {
      const n = rows.filter(
        (r) =>
          r.status === "success" &&
          r.finished_at &&
          r.finished_at.getTime() - t0 >= from &&
          r.finished_at.getTime() - t0 < from + bucketMs,
      ).length;
      const phaseAt = [...phases].reverse().find((p) => p.from <= from)?.phase ?? "baseline";
      successPerMinute.push({
        atSeconds: from / 1000,
        phase: phaseAt,
        perMinute: Math.round((n * 60_000) / bucketMs),
      });
    }
    return {
      scenario: "llm-degraded",
      startedAt,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version },
      settings,
      faults: faults.map((f) => ({ mode: f.mode, seconds: f.seconds })),
      breaker: {
        openedAfterSeconds: openedAt ? (openedAt - faultAt) / 1000 : undefined,
        closedAfterSeconds: closedAt ? (closedAt - healedAt) / 1000 : undefined,
        readyzDegradedSeen,
        readyzNon200,
      },
      quotes: {
        baseline: { count: baseline.length, p95Ms: p95(baseline) },
        fault: { count: during.length, p95Ms: p95(during) },
        p95Ratio: Math.round((p95(during) / Math.max(p95(baseline), 0.1)) * 100) / 100,
        errors: loadResult.samples.filter((s) => s.op === "quote" && isError(s)).length,
      },
      bookings: {
        confirmed: loadResult.committedBookings.length,
        errors: loadResult.samples.filter((s) => s.op === "book" && isError(s)).length,
      },
      tasks: {
        queued: queued.length,
        succeeded: rows.filter((r) => r.status === "success").length,
        failed: rows.filter((r) => r.status === "failed").length,
        unfinished: await unfinished(),
        bySource,
        deferrals,
      },
      successPerMinute,
      recoverySeconds: Math.round(recoverySeconds * 10) / 10,
    };
  } finally {
    await ops.end();
    await runner.stop();
    rmSync(secrets, { recursive: true, force: true });
    await app.stop();
    await llm.stop();
  }
}

export function formatLlmReport(r: LlmDrillReport): string {
  const lines = [
    `game day llm-degraded (${r.startedAt}, ${r.machine.cpus} CPUs, ${r.machine.node})`,
    `  faults: ${r.faults.map((f) => `${f.mode} ${f.seconds} s`).join(", ")}; LLM timeout ${r.settings.llmTimeoutMs} ms, breaker ${r.settings.breakerFailures} failures / ${r.settings.breakerHalfOpenMs} ms`,
    `  breaker opened ${r.breaker.openedAfterSeconds ?? "never"} s after the fault, closed ${r.breaker.closedAfterSeconds ?? "never"} s after recovery; /readyz degraded seen: ${r.breaker.readyzDegradedSeen}, non-200: ${r.breaker.readyzNon200}`,
    `  quotes p95 ${r.quotes.baseline.p95Ms} ms baseline (${r.quotes.baseline.count}) vs ${r.quotes.fault.p95Ms} ms during the fault (${r.quotes.fault.count}): x${r.quotes.p95Ratio}; quote errors ${r.quotes.errors}`,
    `  bookings confirmed ${r.bookings.confirmed}, errors ${r.bookings.errors}`,
    `  agent tasks queued ${r.tasks.queued}: ${r.tasks.succeeded} succeeded (${Object.entries(
      r.tasks.bySource,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ", ",
      )}), ${r.tasks.failed} failed, ${r.tasks.unfinished} unfinished; ${r.tasks.deferrals} deferrals; all done ${r.recoverySeconds} s after recovery`,
    `  successes per minute: ${r.successPerMinute.map((b) => `${b.atSeconds}s ${b.phase} ${b.perMinute}`).join(" | ")}`,
  ];
  return lines.join("\n");
}
