import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, type Db } from "../db/pool.ts";
import { consume } from "./meter.ts";
import { provisionTenant } from "../db/seed.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";

let t: TestApp;
let operator: pg.Pool;

beforeAll(async () => {
  t = await startTestApp();
  operator = createPool(t.db.urls.operator, 4);
});
afterAll(async () => {
  await operator?.end();
  await t?.stop();
});

/** A fresh tenant whose quotes meter has `remaining` units left before its ceiling. */
async function tenantWithRemaining(opts: {
  included: number;
  ceiling: number;
  used: number;
  overage: boolean;
}) {
  const tenant = await provisionTenant(operator, {
    slug: `meter-${Math.random().toString(36).slice(2, 10)}`,
    name: "Meter test",
    planId: "pro",
  });
  await operator.query(
    `UPDATE entitlements SET included = $2, hard_ceiling = $3, overage_allowed = $4,
       overage_unit_price_cents = CASE WHEN $4 THEN 2 END, source = 'operator'
     WHERE tenant_id = $1 AND meter = 'quotes'`,
    [tenant.tenantId, opts.included, opts.ceiling, opts.overage],
  );
  if (opts.used > 0) {
    await operator.query(
      `INSERT INTO usage_counters (tenant_id, meter, period_start, used)
       VALUES ($1, 'quotes', date_trunc('month', now(), 'UTC'), $2)`,
      [tenant.tenantId, opts.used],
    );
  }
  return tenant;
}

async function used(tenantId: string): Promise<number> {
  const { rows } = await operator.query(
    "SELECT coalesce(sum(used), 0)::int AS used FROM usage_counters WHERE tenant_id = $1 AND meter = 'quotes'",
    [tenantId],
  );
  return rows[0].used;
}

async function quoteCount(tenantId: string): Promise<number> {
  const ops = new pg.Client({ connectionString: t.db.urls.ops });
  await ops.connect();
  const { rows } = await ops.query("SELECT count(*)::int AS n FROM quotes WHERE tenant_id = $1", [tenantId]);
  await ops.end();
  return rows[0].n;
}

describe("metering", () => {
  it("admits exactly the remaining allowance under 60 concurrent requests", async () => {
    const tenant = await tenantWithRemaining({ included: 10, ceiling: 25, used: 18, overage: true });
    const client = apiClient(t.url, tenant.apiKey);
    const responses = await Promise.all(
      Array.from({ length: 60 }, () => client.post<Record<string, any>>("/v1/quotes", quoteBody())),
    );
    const admitted = responses.filter((r) => r.status === 201);
    const denied = responses.filter((r) => r.status === 429);
    expect(admitted).toHaveLength(7);
    expect(denied).toHaveLength(53);
    expect(await used(tenant.tenantId)).toBe(25);
    expect(await quoteCount(tenant.tenantId)).toBe(7);
  });

  it("reports the figures that caused a refusal when it waited for the request that took the last unit", async () => {
    const tenant = await tenantWithRemaining({ included: 1100, ceiling: 1100, used: 1099, overage: false });
    const [first, second] = [new pg.Client(t.db.urls.app), new pg.Client(t.db.urls.app)];
    await Promise.all([first.connect(), second.connect()]);
    try {
      for (const c of [first, second])
        await c.query("BEGIN; SELECT set_config('app.tenant_id', $$" + tenant.tenantId + "$$, true)");
      const winner = await consume(first as unknown as Db, "quotes");
      // The second request's statement starts while the first holds the usage row, and waits for it.
      const waiting = consume(second as unknown as Db, "quotes");
      await new Promise((r) => setTimeout(r, 300));
      await first.query("COMMIT");
      const refused = await waiting;
      await second.query("COMMIT");
      expect(winner).toMatchObject({ decision: "admitted", used: 1100 });
      // Not "1,099 of 1,100" from the snapshot taken before the wait: the unit that caused the refusal counts.
      expect(refused).toMatchObject({ decision: "denied", used: 1100, ceiling: 1100 });
    } finally {
      await Promise.all([first.end(), second.end()]);
    }
  });

  it("answers the hard stop with which meter, used/limit, the reset and the upgrade links", async () => {
    const tenant = await tenantWithRemaining({ included: 5, ceiling: 5, used: 5, overage: false });
    const res = await apiClient(t.url, tenant.apiKey).post<Record<string, any>>("/v1/quotes", quoteBody());
    expect(res.status).toBe(429);
    expect(res.headers.get("content-type")).toMatch(/application\/problem\+json/);
    const body = res.body;
    expect(body.type).toMatch(/meter-limit-reached$/);
    expect(body.meter).toBe("quotes");
    expect(body.used).toBe(5);
    expect(body.limit).toBe(5);
    const nextMonth = new Date(
      Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1),
    ).toISOString();
    expect(body.resetsAt).toBe(nextMonth);
    expect(body.upgradeUrl).toMatch(/\/billing\/upgrade/);
    expect(body.requestIncreaseUrl).toMatch(/\/v1\/limit-increase-requests$/);
    expect(body.detail).toMatch(/pro plan allows 5 quotes per month/);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await used(tenant.tenantId)).toBe(5);
  });

  it("counts beyond the included quantity as overage until the ceiling", async () => {
    const tenant = await tenantWithRemaining({ included: 2, ceiling: 4, used: 1, overage: true });
    const client = apiClient(t.url, tenant.apiKey);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await client.post("/v1/quotes", quoteBody())).status);
    expect(statuses).toEqual([201, 201, 201, 429]);
    const usage = await client.get<Record<string, any>>("/v1/usage");
    const quotes = usage.body.meters.find((m: { meter: string }) => m.meter === "quotes");
    expect(quotes).toMatchObject({ used: 4, included: 2, ceiling: 4, percent: 200, warningLevel: "100" });
    expect(quotes.overage).toMatchObject({ allowed: true, unitPriceCents: 2, units: 2, billableCents: 4 });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/meter_decisions_total\{meter="quotes",decision="overage"\} [1-9]/);
    expect(metrics).toMatch(/meter_decisions_total\{meter="quotes",decision="denied"\} [1-9]/);
  });

  it("reads the effective limits from the entitlements table, so a raised limit admits at once", async () => {
    const tenant = await tenantWithRemaining({ included: 3, ceiling: 3, used: 3, overage: false });
    const client = apiClient(t.url, tenant.apiKey);
    expect((await client.post("/v1/quotes", quoteBody())).status).toBe(429);
    await operator.query(
      "UPDATE entitlements SET included = 10, hard_ceiling = 10 WHERE tenant_id = $1 AND meter = 'quotes'",
      [tenant.tenantId],
    );
    expect((await client.post("/v1/quotes", quoteBody())).status).toBe(201);
  });

  it("turns a missing entitlement into a 403 that names the meter, never a 500", async () => {
    const tenant = await tenantWithRemaining({ included: 3, ceiling: 3, used: 0, overage: false });
    await operator.query("DELETE FROM entitlements WHERE tenant_id = $1 AND meter = 'quotes'", [
      tenant.tenantId,
    ]);
    const res = await apiClient(t.url, tenant.apiKey).post<Record<string, any>>("/v1/quotes", quoteBody());
    expect(res.status).toBe(403);
    expect(res.body.meter).toBe("quotes");
  });
});

describe("usage warnings in GET /v1/usage", () => {
  it.each([
    [79, "none"],
    [80, "80"],
    [90, "90"],
    [100, "100"],
  ])("%i of 100 used -> warning %s", async (usedUnits, level) => {
    const tenant = await tenantWithRemaining({ included: 100, ceiling: 150, used: usedUnits, overage: true });
    const usage = await apiClient(t.url, tenant.apiKey).get<Record<string, any>>("/v1/usage");
    const quotes = usage.body.meters.find((m: { meter: string }) => m.meter === "quotes");
    expect(quotes.percent).toBe(usedUnits);
    expect(quotes.warningLevel).toBe(level);
    expect(usage.body.meters.map((m: { meter: string }) => m.meter)).toEqual([
      "bulk_jobs",
      "directory_invites",
      "quotes",
    ]);
  });
});

describe("POST /v1/limit-increase-requests", () => {
  it("records a request and rejects a bad one with field errors", async () => {
    const tenant = await tenantWithRemaining({ included: 3, ceiling: 3, used: 3, overage: false });
    const client = apiClient(t.url, tenant.apiKey);
    const ok = await client.post<Record<string, any>>("/v1/limit-increase-requests", {
      meter: "quotes",
      requestedLimit: 5000,
      reason: "Peak season",
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ meter: "quotes", requestedLimit: 5000, status: "open" });
    const { rows } = await operator.query(
      "SELECT meter, requested_limit FROM limit_increase_requests WHERE tenant_id = $1",
      [tenant.tenantId],
    );
    expect(rows).toEqual([{ meter: "quotes", requested_limit: 5000 }]);
    const bad = await client.post<Record<string, any>>("/v1/limit-increase-requests", {
      meter: "parcels",
      requestedLimit: -1,
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      "meter",
      "reason",
      "requestedLimit",
    ]);
  });
});
