// Per-tenant fairness: claims go round-robin across tenants, each tenant bounded by its effective
// bulk_job_concurrency (the rate-limit controller's, else its plan's) across all runners at once.
import type pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPool, withTenant } from "../db/pool.ts";
import { claimAgentTasks, claimBulkJobs } from "../jobs/queue.ts";
import { QUEUE_DEPTH_SQL, queueStats } from "../jobs/scaling.ts";
import { enqueueBulkJob } from "../jobs/bulk-jobs.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { quoteBody } from "../../tools/platform/api-client.ts";
import { spawnRunner, type RunnerProcess } from "../../tools/platform/runner.ts";

let db: TestDatabase;
let appPool: pg.Pool;
let operator: pg.Pool;
let runnerPool: pg.Pool;
const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  appPool = createPool(db.urls.app, 4);
  operator = createPool(db.urls.operator, 2);
  runnerPool = createPool(db.urls.runner, 8);
  for (const row of (await operator.query<{ id: string; slug: string }>("SELECT id, slug FROM tenants")).rows)
    ids[row.slug] = row.id;
});
let since: Date;
beforeEach(async () => {
  // Each test starts with empty queues: what an earlier test left is settled as failed.
  await runnerPool.query(
    `UPDATE jobs SET state = 'failed', finished_at = now(), lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL
      WHERE state IN ('queued', 'running', 'retrying')`,
  );
  since = (await operator.query<{ now: Date }>("SELECT now()")).rows[0]!.now;
});
afterAll(async () => {
  await appPool?.end();
  await operator?.end();
  await runnerPool?.end();
  await db?.stop();
});

const BIG = "globex-freight";
const SMALL = "initech-shipping";

async function setConcurrency(slug: string, concurrency: number): Promise<void> {
  await operator.query(
    `UPDATE tenant_rate_limits SET bulk_job_concurrency = $2, source = 'override' WHERE tenant_id = $1`,
    [ids[slug], concurrency],
  );
}

async function enqueue(slug: string, jobs: number, lanes = 1): Promise<string[]> {
  const created: string[] = [];
  const body = Array.from({ length: lanes }, () => quoteBody());
  for (let i = 0; i < jobs; i++)
    created.push((await withTenant(appPool, ids[slug]!, (c) => enqueueBulkJob(c, "json", body))).id);
  return created;
}

async function runningBySlug(): Promise<Record<string, number>> {
  const { rows } = await operator.query<{ slug: string; n: number }>(
    `SELECT t.slug, count(*)::int AS n FROM jobs j JOIN tenants t ON t.id = j.tenant_id
      WHERE j.state = 'running' GROUP BY t.slug`,
  );
  return Object.fromEntries(rows.map((r) => [r.slug, r.n]));
}

describe("the scaling signal", () => {
  it("counts runnable bulk jobs and agent tasks of every tenant for KEDA, not delayed retries", async () => {
    await enqueue(BIG, 3);
    await enqueue(SMALL, 2);
    await operator.query(
      `INSERT INTO agent_tasks (tenant_id, kind, status, run_after)
       VALUES ($1, 'notify_ops', 'queued', now()), ($1, 'notify_ops', 'retrying', now() + interval '1 hour')`,
      [ids[SMALL]],
    );
    // KEDA runs it with the runners' DATABASE_URL: the freight_runner role sees every tenant's rows.
    const { rows } = await runnerPool.query<{ depth: string }>(`SELECT (${QUEUE_DEPTH_SQL}) AS depth`);
    expect(Number(rows[0]?.depth)).toBe(6);
    const stats = await queueStats(runnerPool);
    expect(stats.find((q) => q.queue === "bulk_rating")?.depth).toBe(5);
    expect(stats.find((q) => q.queue === "agent_tasks")?.depth).toBe(1);
    await operator.query("UPDATE agent_tasks SET status = 'failed' WHERE status IN ('queued', 'retrying')");
  });
});

describe("per-tenant fair claims", () => {
  it("serves tenants round-robin: a tenant with ten times the backlog gets no more of a claim than a small one", async () => {
    await setConcurrency(BIG, 4);
    await setConcurrency(SMALL, 4);
    await enqueue(BIG, 40);
    await enqueue(SMALL, 4);
    const claimed = await claimBulkJobs(runnerPool, "runner-a", 4, 30);
    const perTenant = claimed.reduce<Record<string, number>>((acc, j) => {
      acc[j.tenantId] = (acc[j.tenantId] ?? 0) + 1;
      return acc;
    }, {});
    expect(perTenant).toEqual({ [ids[BIG]!]: 2, [ids[SMALL]!]: 2 });
  });

  it("never lets a tenant run more than its concurrency, even with many runners claiming at once", async () => {
    await setConcurrency(BIG, 3);
    await setConcurrency(SMALL, 2);
    await enqueue(BIG, 30);
    await enqueue(SMALL, 30);
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 6 }, (_, i) => claimBulkJobs(runnerPool, `runner-${i}`, 8, 30)));
      expect(await runningBySlug()).toEqual({ [BIG]: 3, [SMALL]: 2 });
    }
  });

  it("falls back to the plan's concurrency when the rate-limit controller has written none", async () => {
    await operator.query("DELETE FROM tenant_rate_limits WHERE tenant_id = $1", [ids["acme-logistics"]]);
    await enqueue("acme-logistics", 5);
    await claimBulkJobs(runnerPool, "runner-a", 5, 30);
    // Starter: bulk_job_concurrency 1.
    expect(await runningBySlug()).toEqual({ "acme-logistics": 1 });
  });

  it("holds a tenant's agent tasks to its request rate and concurrency, whatever it has queued", async () => {
    const tenant = ids["acme-logistics"]!;
    await operator.query(
      `INSERT INTO tenant_rate_limits (tenant_id, requests_per_second, burst, bulk_job_concurrency, source)
       VALUES ($1, 2, 4, 8, 'override')
       ON CONFLICT (tenant_id) DO UPDATE SET requests_per_second = 2, bulk_job_concurrency = 8, source = 'override'`,
      [tenant],
    );
    await operator.query(
      `INSERT INTO agent_tasks (tenant_id, kind, payload)
       SELECT $1, 'notify_ops', '{}' FROM generate_series(1, 10)`,
      [tenant],
    );
    expect(await claimAgentTasks(runnerPool, "runner-a", 10, 30)).toHaveLength(2);
    expect(await claimAgentTasks(runnerPool, "runner-b", 10, 30)).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await claimAgentTasks(runnerPool, "runner-b", 10, 30)).toHaveLength(2);
    await operator.query(
      "UPDATE agent_tasks SET status = 'failed', lease_token = NULL WHERE tenant_id = $1",
      [tenant],
    );
  });

  it("keeps the small tenant's wait short under a 10:1 skew across two runner processes", async () => {
    await setConcurrency(BIG, 4);
    await setConcurrency(SMALL, 4);
    await enqueue(BIG, 40, 400);
    await enqueue(SMALL, 4, 400);
    const runners: RunnerProcess[] = [];
    try {
      for (let i = 0; i < 2; i++)
        runners.push(
          await spawnRunner(db.urls.runner, { RUNNER_BULK_SLOTS: "2", RUNNER_BATCH_LANES: "100" }),
        );
      const deadline = Date.now() + 120_000;
      for (;;) {
        const { rows } = await operator.query<{ left: number }>(
          "SELECT count(*)::int AS left FROM jobs WHERE state IN ('queued', 'running', 'retrying')",
        );
        if (rows[0]?.left === 0) break;
        if (Date.now() > deadline) throw new Error(`${rows[0]?.left} jobs still not done after 120 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      for (const r of runners) await r.kill();
    }
    const { rows } = await operator.query<{ slug: string; wait: number; position: number }>(
      `SELECT t.slug, extract(epoch FROM j.started_at - j.created_at)::float8 AS wait,
              rank() OVER (ORDER BY j.started_at)::int AS position
         FROM jobs j JOIN tenants t ON t.id = j.tenant_id WHERE j.created_at >= $1`,
      [since],
    );
    const small = rows.filter((r) => r.slug === SMALL);
    const big = rows
      .filter((r) => r.slug === BIG)
      .map((r) => r.wait)
      .sort((a, b) => a - b);
    // Enqueued after all 40 of the big tenant's jobs, the small tenant's 4 start among the first 8-10
    // (half the slots are its share), not after the big backlog.
    expect(Math.max(...small.map((r) => r.position))).toBeLessThanOrEqual(10);
    expect(Math.max(...small.map((r) => r.wait))).toBeLessThan(big[Math.floor(big.length / 2)]!);
  });
});
