import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../db/pool.ts";
import { provisionTenant } from "../db/seed.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { runUsageBreachCheck, usageWarningCounts } from "./usage-warnings.ts";

let db: TestDatabase;
let operator: pg.Pool;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "plans" });
  operator = createPool(db.urls.operator, 2);
});
afterAll(async () => {
  await operator?.end();
  await db?.stop();
});

async function tenantAt(used: number, included = 100) {
  const tenant = await provisionTenant(operator, {
    slug: `warn-${Math.random().toString(36).slice(2, 10)}`,
    name: "Warnings",
    planId: "pro",
  });
  await operator.query(
    "UPDATE entitlements SET included = $2::bigint, hard_ceiling = $2::bigint * 2 WHERE tenant_id = $1 AND meter = 'quotes'",
    [tenant.tenantId, included],
  );
  await setUsed(tenant.tenantId, used);
  return tenant.tenantId;
}

async function setUsed(tenantId: string, used: number) {
  await operator.query(
    `INSERT INTO usage_counters (tenant_id, meter, period_start, used) VALUES ($1, 'quotes', date_trunc('month', now(), 'UTC'), $2)
     ON CONFLICT (tenant_id, meter, period_start) DO UPDATE SET used = excluded.used`,
    [tenantId, used],
  );
}

async function tasksFor(tenantId: string) {
  const { rows } = await operator.query(
    "SELECT kind, payload->>'threshold' AS threshold, dedupe_key FROM agent_tasks WHERE tenant_id = $1 ORDER BY created_at, payload->>'threshold'",
    [tenantId],
  );
  return rows;
}

describe("nightly usage breach check", () => {
  it("creates one notify_ops task per tenant, meter, threshold and period, however often it runs", async () => {
    const tenant = await tenantAt(79);
    await runUsageBreachCheck(operator);
    expect(await tasksFor(tenant)).toEqual([]);

    await setUsed(tenant, 85);
    const first = await runUsageBreachCheck(operator);
    expect(first.filter((n) => n.tenantId === tenant)).toEqual([
      expect.objectContaining({ meter: "quotes", threshold: 80, percent: 85 }),
    ]);
    await runUsageBreachCheck(operator);
    await runUsageBreachCheck(operator);
    expect((await tasksFor(tenant)).map((t) => t.threshold)).toEqual(["80"]);

    await setUsed(tenant, 91);
    await runUsageBreachCheck(operator);
    await setUsed(tenant, 130);
    await runUsageBreachCheck(operator);
    await runUsageBreachCheck(operator);
    const tasks = await tasksFor(tenant);
    expect(tasks.map((t) => t.threshold)).toEqual(["80", "90", "100"]);
    expect(tasks.every((t) => t.kind === "notify_ops")).toBe(true);
  });

  it("notifies only the highest threshold when usage jumps past several at once", async () => {
    const tenant = await tenantAt(100);
    await runUsageBreachCheck(operator);
    expect((await tasksFor(tenant)).map((t) => t.threshold)).toEqual(["100"]);
    // The lower thresholds are recorded, so they never fire later in the period.
    const { rows } = await operator.query(
      "SELECT threshold FROM usage_warnings WHERE tenant_id = $1 ORDER BY threshold",
      [tenant],
    );
    expect(rows.map((r) => r.threshold)).toEqual([80, 90, 100]);
  });

  it("starts again in the next period", async () => {
    const tenant = await tenantAt(95);
    await runUsageBreachCheck(operator);
    const nextMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 3));
    await operator.query(
      "INSERT INTO usage_counters (tenant_id, meter, period_start, used) VALUES ($1, 'quotes', date_trunc('month', $2::timestamptz, 'UTC'), 85)",
      [tenant, nextMonth],
    );
    const notices = await runUsageBreachCheck(operator, nextMonth);
    expect(notices.filter((n) => n.tenantId === tenant).map((n) => n.threshold)).toEqual([80]);
    expect(await tasksFor(tenant)).toHaveLength(2);
  });

  it("counts tenants per warning level for the meter_warning_tenants gauge", async () => {
    const counts = await usageWarningCounts(operator);
    const quotes = Object.fromEntries(
      counts.filter((c) => c.meter === "quotes").map((c) => [c.level, c.tenants]),
    );
    // From the tests above: 130 % and 100 % -> level 100; 95 % -> level 90.
    expect(quotes["100"]).toBe(2);
    expect(quotes["90"]).toBe(1);
  });
});
