// Agent tasks through the runner: notify_ops delivered to a real local webhook (or the log), retried
// with backoff, and the ops query's success percentage equal to what the runner recorded.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type pg from "pg";
import { createPool } from "../db/pool.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { retryDelayMs } from "../jobs/queue.ts";
import { agentSuccessLastHour } from "../ops/ops-queries.ts";
import { runUsageBreachCheck } from "../ops/usage-warnings.ts";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { startTestRunner, spawnRunner, until } from "../../tools/platform/runner.ts";

interface Delivery {
  at: number;
  taskId: string;
  idempotencyKey: string | undefined;
  body: Record<string, unknown>;
}

/** A webhook receiver whose answer per task the test decides. */
class Webhook {
  readonly deliveries: Delivery[] = [];
  answer: (taskId: string, attempt: number) => number | "hang" = () => 200;
  server: Server;
  url = "";
  constructor() {
    this.server = createServer((request, response) => {
      void read(request).then((text) => {
        const body = JSON.parse(text) as Record<string, unknown>;
        const taskId = String(body.taskId);
        this.deliveries.push({
          at: Date.now(),
          taskId,
          idempotencyKey: request.headers["idempotency-key"] as string,
          body,
        });
        const status = this.answer(taskId, this.deliveries.filter((d) => d.taskId === taskId).length);
        if (status === "hang") return; // never answers: the runner is killed meanwhile
        response.writeHead(status).end();
      });
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ops`;
  }
}

function read(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    request.on("data", (chunk: Buffer) => (text += chunk.toString()));
    request.on("end", () => resolve(text));
  });
}

let app: TestApp;
let operator: pg.Pool;
let ops: pg.Pool;
const webhook = new Webhook();
let tenants: string[];

beforeAll(async () => {
  app = await startTestApp({ seed: "demo" });
  operator = createPool(app.db.urls.operator, 3);
  ops = createPool(app.db.urls.ops, 2);
  await webhook.start();
  tenants = (await operator.query<{ id: string }>("SELECT id FROM tenants ORDER BY slug")).rows.map(
    (r) => r.id,
  );
});
afterAll(async () => {
  webhook.server.closeAllConnections();
  webhook.server.close();
  await operator?.end();
  await ops?.end();
  await app?.stop();
});

async function notifyTask(tenantId: string, threshold: number, maxAttempts = 3): Promise<string> {
  const { rows } = await operator.query<{ id: string }>(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, max_attempts)
     VALUES ($1, 'notify_ops', jsonb_build_object('meter', 'quotes', 'threshold', $2::int, 'percent', $2::int), $3)
     RETURNING id`,
    [tenantId, threshold, maxAttempts],
  );
  return rows[0]!.id;
}

async function tasks(ids: string[]) {
  const { rows } = await operator.query<{
    id: string;
    status: string;
    attempts: number;
    last_error: string | null;
    finished_at: Date | null;
  }>("SELECT id, status, attempts, last_error, finished_at FROM agent_tasks WHERE id = ANY($1)", [ids]);
  return rows;
}

function counter(text: string, status: string): number {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`agent_tasks_finished_total{kind="notify_ops",status="${status}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("retry backoff", () => {
  it("doubles per attempt up to the cap, with jitter in the upper half", () => {
    expect(retryDelayMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(retryDelayMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(retryDelayMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(retryDelayMs(20, 1000, 60_000, () => 1)).toBe(60_000);
  });
});

describe("agent tasks", () => {
  it("retries failures with backoff, fails for good after max attempts, and the ops success % matches the runner's counts", async () => {
    const fail = new Set<string>();
    const flaky = new Set<string>();
    const refused = new Set<string>();
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) {
      const id = await notifyTask(tenants[i % tenants.length]!, 80);
      ids.push(id);
      if (i % 8 === 0) fail.add(id);
      else if (i % 8 === 1) refused.add(id);
      else if (i % 3 === 0) flaky.add(id);
    }
    webhook.answer = (taskId, attempt) =>
      fail.has(taskId) ? 503 : refused.has(taskId) ? 400 : flaky.has(taskId) && attempt === 1 ? 500 : 200;

    const runner = await startTestRunner(app.db.urls.runner, { OPS_WEBHOOK_URL: webhook.url });
    try {
      const settled = await until(
        "every task to settle",
        () => tasks(ids),
        (rows) => rows.every((r) => r.status === "success" || r.status === "failed"),
      );
      const byId = new Map(settled.map((r) => [r.id, r]));
      for (const id of fail) {
        expect(byId.get(id)).toMatchObject({ status: "failed", attempts: 3 });
        expect(byId.get(id)?.last_error).toMatch(/ops webhook answered 503/);
      }
      for (const id of refused) {
        expect(byId.get(id)).toMatchObject({ status: "failed", attempts: 1 });
        expect(byId.get(id)?.last_error).toMatch(/answered 400 .*retrying would not help/);
      }
      for (const id of flaky) expect(byId.get(id)).toMatchObject({ status: "success", attempts: 2 });

      // Backoff (base 50 ms in tests): attempt n waits at least half of 50 x 2^(n-1) ms after the last.
      for (const id of fail) {
        const at = webhook.deliveries.filter((d) => d.taskId === id).map((d) => d.at);
        expect(at).toHaveLength(3);
        expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(25);
        expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(50);
      }

      const metrics = await runner.runner.options.metrics.registry.metrics();
      const success = counter(metrics, "success");
      const failed = counter(metrics, "failed");
      expect(success).toBe(24 - fail.size - refused.size);
      expect(failed).toBe(fail.size + refused.size);
      expect(counter(metrics, "retrying")).toBe(2 * fail.size + flaky.size);

      const fromOps = await agentSuccessLastHour(ops);
      expect(fromOps.tasks).toBe(success + failed);
      expect(fromOps.percent).toBe(Math.round((10_000 * success) / (success + failed)) / 100);

      // Every delivery carried the task id as its Idempotency-Key, and what ops needs to act.
      const delivery = webhook.deliveries.find((d) => flaky.has(d.taskId))!;
      expect(delivery.idempotencyKey).toBe(delivery.taskId);
      expect(delivery.body).toMatchObject({ event: "notify_ops", meter: "quotes", threshold: 80 });
    } finally {
      await runner.stop();
    }
  });

  it("delivers the breach check's notify_ops task for a tenant at 100 % of its bulk jobs", async () => {
    const tenant = await provisionTestTenant(app.db, "pro", {
      meter: "bulk_jobs",
      included: 2,
      hardCeiling: 2,
    });
    const client = apiClient(app.url, tenant.apiKey);
    for (let i = 0; i < 2; i++)
      expect((await client.post("/v1/bulk-jobs", { lanes: [quoteBody()] })).status).toBe(202);
    const notices = await runUsageBreachCheck(operator);
    expect(notices).toEqual([expect.objectContaining({ meter: "bulk_jobs", threshold: 100 })]);
    webhook.answer = () => 200;
    const before = webhook.deliveries.length;
    const runner = await startTestRunner(app.db.urls.runner, { OPS_WEBHOOK_URL: webhook.url });
    try {
      await until(
        "the delivery",
        async () => webhook.deliveries.length,
        (n) => n > before,
      );
      expect(webhook.deliveries.at(-1)?.body).toMatchObject({
        event: "notify_ops",
        tenantId: notices[0]!.tenantId,
        meter: "bulk_jobs",
        threshold: 100,
        percent: 100,
        used: 2,
        included: 2,
      });
    } finally {
      await runner.stop();
    }
  });

  it("writes notify_ops as a structured log line when no webhook is configured", async () => {
    const id = await notifyTask(tenants[0]!, 90);
    const runner = await spawnRunner(app.db.urls.runner, { OPS_WEBHOOK_URL: "" });
    try {
      await until(
        "the task to succeed",
        () => tasks([id]),
        (rows) => rows[0]?.status === "success",
      );
      const line = runner
        .output()
        .split("\n")
        .find((l) => l.includes(id));
      expect(JSON.parse(line!)).toMatchObject({ event: "notify_ops", taskId: id, threshold: 90, level: 40 });
    } finally {
      await runner.terminate();
    }
  });

  it("delivers again after a runner is killed mid-delivery, with the same Idempotency-Key, and records one success", async () => {
    const id = await notifyTask(tenants[1]!, 80);
    webhook.answer = (taskId, attempt) => (taskId === id && attempt === 1 ? "hang" : 200);
    const first = await spawnRunner(app.db.urls.runner, { OPS_WEBHOOK_URL: webhook.url });
    await until(
      "the first delivery",
      async () => webhook.deliveries.filter((d) => d.taskId === id).length,
      (n) => n === 1,
    );
    await first.kill();
    const second = await spawnRunner(app.db.urls.runner, { OPS_WEBHOOK_URL: webhook.url });
    try {
      const [task] = await until(
        "the task to succeed",
        () => tasks([id]),
        (rows) => rows[0]?.status === "success",
      );
      expect(task).toMatchObject({ status: "success", attempts: 2 });
      const deliveries = webhook.deliveries.filter((d) => d.taskId === id);
      expect(deliveries.map((d) => d.idempotencyKey)).toEqual([id, id]);
    } finally {
      await second.terminate();
    }
  });
});
