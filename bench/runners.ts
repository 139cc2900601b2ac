// `npm run bench:runners`: bulk rating throughput with 1, 2 and 4 runner processes, and the small
// tenant's p95 queue wait under a 10:1 tenant skew versus alone (goal: at most 2x). Real runner
// processes against one PostgreSQL with durable settings; jobs are enqueued as the app enqueues them.
//   npm run bench:runners -- --jobs 200 --lanes 100 --runners 1,2,4
import { cpus, loadavg, totalmem } from "node:os";
import { parseArgs } from "node:util";
import type pg from "pg";
import { createPool, withTenant } from "../app/db/pool.ts";
import { provisionDatabase } from "../tools/postgres/provision.ts";
import { enqueueBulkJob } from "../app/jobs/bulk-jobs.ts";
import { spawnRunner, type RunnerProcess } from "../tools/platform/runner.ts";
import { startPostgres } from "../tools/postgres/server.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    lanes: { type: "string", default: "100" },
    runners: { type: "string", default: "1,2,4" },
    slots: { type: "string", default: "4" },
    "skew-rounds": { type: "string", default: "30" },
    "skew-interval-ms": { type: "string", default: "100" },
    "skew-lanes": { type: "string", default: "50" },
    json: { type: "boolean", default: false },
  },
});
const JOBS = Number(values.jobs);
const LANES = Number(values.lanes);
const RUNNER_COUNTS = values.runners.split(",").map(Number);
const SLOTS = values.slots;
const SKEW_ROUNDS = Number(values["skew-rounds"]);
const SKEW_INTERVAL_MS = Number(values["skew-interval-ms"]);
const SKEW_LANES = Number(values["skew-lanes"]);

const MARKETS = [
  "Chicago, IL",
  "Dallas, TX",
  "Atlanta, GA",
  "Denver, CO",
  "Seattle, WA",
  "Miami, FL",
  "Newark, NJ",
];
const pickup = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
function lanes(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    origin: MARKETS[i % MARKETS.length],
    destination: MARKETS[(i + 1 + (i % 5)) % MARKETS.length],
    equipment: ["dry_van", "reefer", "flatbed"][i % 3],
    weightLbs: 20_000 + (i % 100) * 150,
    pickupDate: pickup,
  }));
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const ms = (seconds: number) => Math.round(seconds * 1000);

const db = await provisionDatabase({
  seed: "demo",
  server: await startPostgres({ name: "bench", durable: true }),
});
const app = createPool(db.urls.app, 8);
const operator = createPool(db.urls.operator, 2);
const runnerPool = createPool(db.urls.runner, 2);
const tenants = Object.fromEntries(
  (await operator.query<{ slug: string; id: string }>("SELECT slug, id FROM tenants")).rows.map((r) => [
    r.slug,
    r.id,
  ]),
);
const BIG = tenants["initech-shipping"] as string;
const SMALL = tenants["globex-freight"] as string;
// Concurrency high enough that the limit is not what is measured: any tenant may use every slot.
await operator.query("UPDATE tenant_rate_limits SET bulk_job_concurrency = 64, source = 'override'");

/** Enqueues `count` jobs; returns each job's id and when its enqueue committed (when it became claimable). */
async function enqueue(tenant: string, count: number, laneCount: number): Promise<Map<string, number>> {
  const body = lanes(laneCount);
  const committed = new Map<string, number>();
  await Promise.all(
    Array.from({ length: count }, async () => {
      const job = await withTenant(app, tenant, (c) => enqueueBulkJob(c, "json", body));
      committed.set(job.id, Date.now());
    }),
  );
  return committed;
}

async function clearQueue(): Promise<void> {
  await runnerPool.query(
    `UPDATE jobs SET state = 'failed', finished_at = now(), lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE state IN ('queued', 'running', 'retrying')`,
  );
}

async function waitUntilDone(pool: pg.Pool, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ left: number }>(
      "SELECT count(*)::int AS left FROM jobs WHERE state IN ('queued', 'running', 'retrying')",
    );
    if (rows[0]?.left === 0) return;
    if (Date.now() > deadline) throw new Error(`${rows[0]?.left} jobs not done within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function withRunners<T>(count: number, work: () => Promise<T>): Promise<T> {
  const runners: RunnerProcess[] = [];
  try {
    for (let i = 0; i < count; i++)
      runners.push(
        await spawnRunner(db.urls.runner, {
          LOG_LEVEL: "warn",
          RUNNER_BULK_SLOTS: SLOTS,
          RUNNER_POLL_MS: "100",
          RUNNER_LEASE_SECONDS: "30",
          RUNNER_BATCH_LANES: "500",
        }),
      );
    return await work();
  } finally {
    for (const r of runners) await r.terminate();
  }
}

// --- throughput: the queue is filled while runners are paused, then released at once ---
interface ThroughputResult {
  runners: number;
  jobs: number;
  lanes: number;
  seconds: number;
  jobsPerSecond: number;
  lanesPerSecond: number;
}
const throughput: ThroughputResult[] = [];
for (const count of RUNNER_COUNTS) {
  await clearQueue();
  await operator.query("UPDATE region_routing SET runners_paused = true");
  await withRunners(count, async () => {
    await enqueue(BIG, JOBS, LANES);
    const started = performance.now();
    await operator.query("UPDATE region_routing SET runners_paused = false");
    await waitUntilDone(operator);
    const seconds = (performance.now() - started) / 1000;
    throughput.push({
      runners: count,
      jobs: JOBS,
      lanes: JOBS * LANES,
      seconds: Math.round(seconds * 100) / 100,
      jobsPerSecond: Math.round((JOBS / seconds) * 10) / 10,
      lanesPerSecond: Math.round((JOBS * LANES) / seconds),
    });
  });
}

// --- fairness: the small tenant submits one job per interval, alone, then beside a tenant with 10x ---
async function smallTenantWaits(
  withBigTenant: boolean,
): Promise<{ p50: number; p95: number; max: number; bigJobs: number }> {
  await clearQueue();
  return withRunners(2, async () => {
    const small = new Map<string, number>();
    let bigJobs = 0;
    for (let round = 0; round < SKEW_ROUNDS; round++) {
      const tick = performance.now();
      const [mine, theirs] = await Promise.all([
        enqueue(SMALL, 1, SKEW_LANES),
        withBigTenant ? enqueue(BIG, 10, SKEW_LANES) : Promise.resolve(new Map()),
      ]);
      for (const [id, at] of mine) small.set(id, at);
      bigJobs += theirs.size;
      await new Promise((r) => setTimeout(r, Math.max(0, SKEW_INTERVAL_MS - (performance.now() - tick))));
    }
    await waitUntilDone(operator);
    // Wait = from the enqueue's commit (the job became claimable) to its claim. Same host, same clock.
    const { rows } = await operator.query<{ id: string; started_at: Date }>(
      "SELECT id, started_at FROM jobs WHERE id = ANY($1::uuid[])",
      [[...small.keys()]],
    );
    const waits = rows
      .map((r) => Math.max(0, r.started_at.getTime() - (small.get(r.id) as number)) / 1000)
      .sort((a, b) => a - b);
    return {
      p50: ms(percentile(waits, 50)),
      p95: ms(percentile(waits, 95)),
      max: ms(waits.at(-1) ?? NaN),
      bigJobs,
    };
  });
}

const alone = await smallTenantWaits(false);
const skewed = await smallTenantWaits(true);
const ratio = Math.round((skewed.p95 / Math.max(alone.p95, 1)) * 100) / 100;

await app.end();
await operator.end();
await runnerPool.end();
await db.stop();

const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()
  .map((l) => l.toFixed(1))
  .join(" ")}`;
if (values.json) {
  console.log(JSON.stringify({ machine, throughput, fairness: { alone, skewed, ratio } }, null, 2));
} else {
  console.log(`\nBulk rating: ${JOBS} jobs x ${LANES} lanes, ${SLOTS} bulk slots per runner; ${machine}\n`);
  console.log("runners  seconds  jobs/s  lanes/s");
  for (const t of throughput)
    console.log(
      `${String(t.runners).padStart(7)}  ${String(t.seconds).padStart(7)}  ${String(t.jobsPerSecond).padStart(6)}  ${String(t.lanesPerSecond).padStart(7)}`,
    );
  console.log(
    `\nFairness: 2 runners; the small tenant submits ${SKEW_ROUNDS} jobs of ${SKEW_LANES} lanes, one per ${SKEW_INTERVAL_MS} ms; the big tenant 10 per ${SKEW_INTERVAL_MS} ms.`,
  );
  console.log("scenario            small p50 ms  small p95 ms  small max ms  big jobs");
  console.log(
    `alone               ${String(alone.p50).padStart(12)}  ${String(alone.p95).padStart(12)}  ${String(alone.max).padStart(12)}  ${String(alone.bigJobs).padStart(8)}`,
  );
  console.log(
    `10:1 skew           ${String(skewed.p50).padStart(12)}  ${String(skewed.p95).padStart(12)}  ${String(skewed.max).padStart(12)}  ${String(skewed.bigJobs).padStart(8)}`,
  );
  console.log(
    `\nSmall tenant p95 wait under skew / alone: ${ratio}x (goal: at most 2x): ${ratio <= 2 ? "met" : "NOT met"}.`,
  );
}
