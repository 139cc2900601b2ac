// Runner processes against a real PostgreSQL: killed with SIGKILL mid-job, paused and resumed by the
// routing state, stopped with SIGTERM, and cut short by the drain deadline.
import type pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPool, withTenant } from "../db/pool.ts";
import { enqueueBulkJob } from "../jobs/bulk-jobs.ts";
import { runnersDrained } from "../jobs/drain.ts";
import { priceLane } from "../jobs/lanes.ts";
import { PRICING } from "../pricing/data.ts";
import { QuoteEngine } from "../pricing/engine.ts";
import { QuotePricing } from "../pricing/quote-pricing.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { spawnRunner, until, type RunnerProcess } from "../../tools/platform/runner.ts";
import { startPostgres } from "../../tools/postgres/server.ts";
import { QUEUE_DEPTH_SQL } from "../jobs/scaling.ts";

let app: TestApp;
let appPool: pg.Pool;
let operator: pg.Pool;
let tenantId: string;
const runners: RunnerProcess[] = [];
// Each test's runners in a region of their own: a killed runner of one test is not another's business.
let region = "";
let regions = 0;
beforeEach(() => {
  region = `test-region-${++regions}`;
});

beforeAll(async () => {
  app = await startTestApp({ seed: "demo" });
  appPool = createPool(app.db.urls.app, 3);
  operator = createPool(app.db.urls.operator, 3);
  const { rows } = await operator.query<{ id: string }>(
    "SELECT id FROM tenants WHERE slug = 'initech-shipping'",
  );
  tenantId = rows[0]!.id;
});
afterEach(async () => {
  for (const r of runners.splice(0)) await r.kill();
  await operator.query("UPDATE region_routing SET runners_paused = false");
});
afterAll(async () => {
  await appPool?.end();
  await operator?.end();
  await app?.stop();
});

interface JobState {
  state: string;
  attempts: number;
  lanes_total: number;
  lanes_priced: number;
  lanes_invalid: number;
  lease_owner: string | null;
  last_error: string | null;
}

async function job(id: string): Promise<JobState> {
  const { rows } = await operator.query<JobState>(
    "SELECT state, attempts, lanes_total, lanes_priced, lanes_invalid, lease_owner, last_error FROM jobs WHERE id = $1",
    [id],
  );
  return rows[0]!;
}

function lanes(n: number): Record<string, unknown>[] {
  const markets = ["Chicago, IL", "Dallas, TX", "Atlanta, GA", "Denver, CO", "Seattle, WA", "Miami, FL"];
  return Array.from({ length: n }, (_, i) =>
    i % 97 === 0
      ? quoteBody({ origin: "Nowhere, XX" }) // a bad row every 97 lanes
      : quoteBody({
          origin: markets[i % markets.length],
          destination: markets[(i + 1 + (i % 4)) % markets.length],
          weightLbs: 20_000 + (i % 200) * 100,
        }),
  );
}

async function enqueue(n: number): Promise<string> {
  const created = await withTenant(appPool, tenantId, (db) => enqueueBulkJob(db, "json", lanes(n)));
  return created.id;
}

async function spawn(env: Record<string, string> = {}): Promise<RunnerProcess> {
  const runner = await spawnRunner(app.db.urls.runner, {
    RUNNER_BATCH_LANES: "25",
    REGION_NAME: region,
    ...env,
  });
  runners.push(runner);
  return runner;
}

describe("a runner killed with SIGKILL mid-job", () => {
  it("loses nothing and doubles nothing: the job resumes at its last checkpoint on another runner", async () => {
    // Through the API, so the meter is part of the picture.
    const client = apiClient(app.url, app.apiKeys["initech-shipping"]);
    const input = lanes(6_000);
    const created = await client.post<{ id: string }>("/v1/bulk-jobs", { lanes: input });
    expect(created.status).toBe(202);
    const id = created.body.id;

    const first = await spawn();
    await until(
      "the first checkpoint",
      () => job(id),
      (j) => j.lanes_priced > 0,
    );
    await first.kill();
    const killed = await job(id);
    expect(killed.state).toBe("running");
    expect(killed.lease_owner).toBe(first.runnerId);
    expect(killed.lanes_priced + killed.lanes_invalid).toBeLessThan(6_000);

    await spawn();
    const done = await until(
      "the job to finish",
      () => job(id),
      (j) => j.state === "succeeded",
    );
    expect(done).toMatchObject({
      attempts: 2,
      lanes_total: 6_000,
      lanes_priced: 6_000 - 62,
      lanes_invalid: 62,
    });

    // Every lane has exactly one result, the one the quote engine gives, written by one attempt.
    // Lane results are tenant data: read as the tenant.
    const { rows } = await withTenant(appPool, tenantId, (db) =>
      db.query<{ status: string; n: number; attempts: number[] }>(
        `SELECT status, count(*)::int AS n, array_agg(DISTINCT priced_attempt ORDER BY priced_attempt) AS attempts
           FROM bulk_job_lanes WHERE job_id = $1 GROUP BY status`,
        [id],
      ),
    );
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r]));
    expect(byStatus.priced?.n).toBe(6_000 - 62);
    expect(byStatus.invalid?.n).toBe(62);
    expect(byStatus.pending).toBeUndefined();
    expect(byStatus.priced?.attempts).toEqual([1, 2]);

    // No pricing_model_splits row: every tenant is priced with the engine's own version.
    const pricing = new QuotePricing(new QuoteEngine(PRICING));
    const results = await withTenant(appPool, tenantId, (db) =>
      db.query<{ row_number: number; result: { totalCents: number } | null }>(
        "SELECT row_number, result FROM bulk_job_lanes WHERE job_id = $1 AND row_number % 500 = 1 ORDER BY row_number",
        [id],
      ),
    );
    for (const row of results.rows) {
      const expected = priceLane(pricing, tenantId, input[row.row_number - 1]);
      expect(row.result?.totalCents ?? null).toBe(
        expected.status === "priced" ? expected.result.totalCents : null,
      );
    }

    // The retry did not count the meter again.
    const usage = await client.get<{ meters: { meter: string; used: number }[] }>("/v1/usage");
    expect(usage.body.meters.find((m) => m.meter === "bulk_jobs")?.used).toBe(1);
  });
});

describe("the runner's own server", () => {
  it("serves /healthz with its state and /metrics with queue depth, finished jobs and lanes", async () => {
    // Started during a pause: it must not claim until the pause is lifted.
    await operator.query("UPDATE region_routing SET runners_paused = true");
    const runner = await spawn();
    const waiting = await enqueue(3);
    await until(
      "paused",
      () => fetch(`${runner.url}/healthz`).then((r) => r.json() as Promise<{ state: string }>),
      (h) => h.state === "paused",
    );
    const before = await (await fetch(`${runner.url}/metrics`)).text();
    expect(before).toMatch(/^jobs_queue_depth\{queue="bulk_rating"\} 1$/m);
    expect(before).toMatch(/^runner_state\{state="paused"\} 1$/m);

    await operator.query("UPDATE region_routing SET runners_paused = false");
    await until(
      "the job",
      () => job(waiting),
      (j) => j.state === "succeeded",
    );
    const health = await fetch(`${runner.url}/healthz`);
    expect(health.status).toBe(200);
    // No SECRETS_ROTATION_WATCH here: nothing to be degraded by, and readiness says so.
    expect(await health.json()).toEqual({
      status: "ok",
      state: "running",
      inFlight: 0,
      checks: { secrets: "no rotation dates known" },
    });
    // Gauges are refreshed at most every 5 s; the counters at once.
    const after = await (await fetch(`${runner.url}/metrics`)).text();
    expect(after).toMatch(/^runner_jobs_finished_total\{queue="bulk_rating",status="succeeded"\} 1$/m);
    expect(after).toMatch(/^bulk_job_lanes_total\{result="invalid"\} 1$/m);
    expect(after).toMatch(/^bulk_job_lanes_total\{result="priced"\} 2$/m);
    expect(after).toMatch(/^runner_job_wait_seconds_count\{queue="bulk_rating"\} 1$/m);
    expect((await fetch(`${runner.url}/nope`)).status).toBe(404);
  });
});

describe("a standby region's runner", () => {
  it("holds on the read-only replica without writing, and takes the queue once the replica is promoted", async () => {
    const replica = await startPostgres({ name: "runner-standby", replicaOf: app.db.server });
    try {
      const onReplica = (url: string) => {
        const u = new URL(url);
        u.port = String(replica.port);
        return u.toString();
      };
      const waiting = await enqueue(3);
      const replicaRunnerPool = createPool(onReplica(app.db.urls.runner), 1);
      try {
        // The job has replicated; KEDA's query on the standby still reports no work to scale for.
        await until(
          "the job on the replica",
          () =>
            replicaRunnerPool.query("SELECT 1 FROM jobs WHERE id = $1", [waiting]).then((r) => r.rowCount),
          (n) => n === 1,
        );
        const depth = await replicaRunnerPool.query<{ d: string }>(`SELECT (${QUEUE_DEPTH_SQL}) AS d`);
        expect(Number(depth.rows[0]!.d)).toBe(0);
      } finally {
        await replicaRunnerPool.end();
      }
      const runner = await spawnRunner(onReplica(app.db.urls.runner), { REGION_NAME: region });
      runners.push(runner);
      await until(
        "paused on the standby",
        () => fetch(`${runner.url}/healthz`).then((r) => r.json() as Promise<{ state: string }>),
        (h) => h.state === "paused",
      );
      // Several polls later it is still alive, has claimed nothing and logged no failed statement.
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await job(waiting)).state).toBe("queued");
      expect(runner.output()).not.toMatch(/read-only transaction|runner loop failed/);
      expect(runner.output()).toMatch(/standby region/);

      // Promoted (a region flip): the same runner works the replicated queue on its own database.
      const admin = createPool(replica.url(), 1);
      try {
        await admin.query("SELECT pg_promote(true, 60)");
      } finally {
        await admin.end();
      }
      const promotedOperator = createPool(onReplica(app.db.urls.operator), 1);
      try {
        await until(
          "the job done on the promoted database",
          () =>
            promotedOperator
              .query<{ state: string }>("SELECT state FROM jobs WHERE id = $1", [waiting])
              .then((r) => r.rows[0]?.state),
          (state) => state === "succeeded",
        );
      } finally {
        await promotedOperator.end();
      }
      expect((await job(waiting)).state).toBe("queued");
    } finally {
      for (const r of runners.splice(0)) await r.kill();
      await replica.stop();
      // The primary's copy of the job is still queued; later tests' runners must not find it.
      const owner = createPool(
        app.db.server.url(undefined, undefined, new URL(app.db.urls.operator).pathname.slice(1)),
        1,
      );
      await owner.query("DELETE FROM jobs WHERE state = 'queued'").finally(() => owner.end());
    }
  });
});

describe("pause and drain", () => {
  it("stops claiming on the routing pause, finishes in-flight work, reports drained, and resumes", async () => {
    const runner = await spawn({ RUNNER_DRAIN_SECONDS: "60" });
    const inFlight = await enqueue(6_000);
    await until(
      "the job to start",
      () => job(inFlight),
      (j) => j.lanes_priced > 0,
    );

    await operator.query("UPDATE region_routing SET runners_paused = true");
    const draining = await until(
      "the runner to report draining",
      () => runnersDrained(operator, region),
      (s) => (s.states.draining ?? 0) > 0 || s.drained,
    );
    // Either caught while draining, with the job counted in flight, or already done.
    if (!draining.drained) expect(draining.inFlight).toBeGreaterThan(0);

    const waiting = await enqueue(10);
    const drained = await until(
      "drained",
      () => runnersDrained(operator, region),
      (s) => s.drained,
    );
    expect(drained).toMatchObject({ drained: true, inFlight: 0, runners: 1, states: { paused: 1 } });
    // The in-flight job finished inside the drain; the new one was not claimed.
    expect((await job(inFlight)).state).toBe("succeeded");
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await job(waiting)).state).toBe("queued");

    await operator.query("UPDATE region_routing SET runners_paused = false");
    await until(
      "the waiting job to run after resume",
      () => job(waiting),
      (j) => j.state === "succeeded",
    );
    const resumed = await runnersDrained(operator, region);
    expect(resumed).toMatchObject({ drained: false, states: { running: 1 } });
    expect(runner.output()).toMatch(/routing pauses runners: draining/);
  });

  it("holds without the routing row, says how to restore it, and works once it is back", async () => {
    const owner = createPool(app.db.urls.owner, 1);
    await owner.query("DELETE FROM region_routing");
    try {
      const runner = await spawn();
      const id = await enqueue(10);
      await until(
        "the runner to report paused",
        () => runnersDrained(operator, region),
        (s) => (s.states.paused ?? 0) > 0,
      );
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await job(id)).state).toBe("queued");
      expect(runner.output()).toMatch(/runners hold: no routing row/);
      expect(runner.output()).toMatch(/region_routing has no row in this database.*npm run migrate/);

      await owner.query("INSERT INTO region_routing DEFAULT VALUES");
      await until(
        "the job to run once the row is back",
        () => job(id),
        (j) => j.state === "succeeded",
      );
    } finally {
      await owner.query("INSERT INTO region_routing DEFAULT VALUES ON CONFLICT DO NOTHING");
      await owner.end();
    }
  });

  it("hands unfinished work back at its checkpoint when the drain deadline passes, and loses none of it", async () => {
    await spawn({ RUNNER_DRAIN_SECONDS: "0.5", RUNNER_BATCH_LANES: "10" });
    const id = await enqueue(8_000);
    await until(
      "the job to start",
      () => job(id),
      (j) => j.lanes_priced > 0,
    );
    await operator.query("UPDATE region_routing SET runners_paused = true");
    await until(
      "drained",
      () => runnersDrained(operator, region),
      (s) => s.drained,
      20_000,
    );
    const released = await job(id);
    expect(released).toMatchObject({ state: "queued", attempts: 0, lease_owner: null });
    expect(released.lanes_priced).toBeGreaterThan(0);
    expect(released.lanes_priced + released.lanes_invalid).toBeLessThan(8_000);

    await operator.query("UPDATE region_routing SET runners_paused = false");
    const done = await until(
      "the job to finish",
      () => job(id),
      (j) => j.state === "succeeded",
    );
    expect(done.lanes_priced + done.lanes_invalid).toBe(8_000);
    // 8,000 lanes priced twice over (before and after the hand-back): 24 s on a CI machine at load 12.
  }, 120_000);

  it("drains on SIGTERM and exits 0 with its last heartbeat saying drained", async () => {
    const runner = await spawn({ RUNNER_DRAIN_SECONDS: "60" });
    const id = await enqueue(2_000);
    await until(
      "the job to start",
      () => job(id),
      (j) => j.lanes_priced > 0,
    );
    expect(await runner.terminate()).toBe(0);
    expect((await job(id)).state).toBe("succeeded");
    const { rows } = await operator.query<{ state: string; in_flight: number }>(
      "SELECT state, in_flight FROM runner_heartbeats WHERE runner_id = $1",
      [runner.runnerId],
    );
    expect(rows[0]).toEqual({ state: "drained", in_flight: 0 });
    expect((await runnersDrained(operator, region)).drained).toBe(true);
  });

  it("counts a runner killed mid-job as drained only once its lease has expired", async () => {
    const runner = await spawn();
    const id = await enqueue(6_000);
    await until(
      "the job to start",
      () => job(id),
      (j) => j.lanes_priced > 0,
    );
    await runner.kill();
    const right = await runnersDrained(operator, region);
    expect(right.drained).toBe(false);
    expect(right.inFlight).toBe(1);
    // Lease 2 s in tests, heartbeats every 0.7 s: after both, nothing is running in the region any more.
    const after = await until(
      "the lease to expire",
      () => runnersDrained(operator, region, { staleSeconds: 3 }),
      (s) => s.drained,
      15_000,
    );
    expect(after).toMatchObject({ drained: true, inFlight: 0, runners: 0 });
  });
});
