import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "../db/pool.ts";
import { provisionTenant } from "../db/seed.ts";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import {
  AGENT_SUCCESS_SQL,
  agentSuccessLastHour,
  RATE_VARIANCE_SQL,
  rateVarianceLast30Days,
} from "./ops-queries.ts";

let db: TestDatabase;
let ops: pg.Pool;
let app: pg.Pool;
let operator: pg.Pool;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "plans" });
  ops = createPool(db.urls.ops, 2);
  app = createPool(db.urls.app, 2);
  operator = createPool(db.urls.operator, 2);
});
afterAll(async () => {
  await Promise.all([ops?.end(), app?.end(), operator?.end()]);
  await db?.stop();
});

describe("drop-in ops queries", () => {
  it("agent success % over the last 60 minutes counts finished tasks of every tenant in the window", async () => {
    const a = await provisionTenant(operator, { slug: "ops-a", name: "A", planId: "pro" });
    const b = await provisionTenant(operator, { slug: "ops-b", name: "B", planId: "pro" });
    const insert = (tenant: string, status: string, minutesAgo: number) =>
      operator.query(
        "INSERT INTO agent_tasks (tenant_id, kind, status, created_at) VALUES ($1, 'rate_lookup', $2, now() - make_interval(mins => $3))",
        [tenant, status, minutesAgo],
      );
    for (let i = 0; i < 197; i++) await insert(i % 2 ? a.tenantId : b.tenantId, "success", i % 50);
    await insert(a.tenantId, "failed", 5);
    await insert(b.tenantId, "failed", 30);
    await insert(b.tenantId, "failed", 90); // outside the window
    await insert(a.tenantId, "running", 1); // not finished
    expect(await agentSuccessLastHour(ops)).toEqual({ percent: 98.99, tasks: 199 });
    // Verbatim: the .sql file runs as it is in psql.
    const { rows } = await ops.query(AGENT_SUCCESS_SQL);
    expect(Number(rows[0].agent_success_pct)).toBe(98.99);
  });

  it("average absolute variance of actual vs proposed rate over 30 days, through invoice_pricing_view", async () => {
    const tenant = await provisionTenant(operator, { slug: "ops-inv", name: "Invoices", planId: "pro" });
    const client = await app.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenant.tenantId]);
      const invoice = async (proposedCents: number, actualCents: number, daysAgo: number) => {
        const q = await client.query(
          `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles, linehaul_cents,
             fuel_surcharge_cents, margin_cents, total_cents, breakdown, pricing_version, expires_at)
           VALUES (current_tenant_id(), 'Chicago, IL', 'Dallas, TX', 'dry_van', 30000, current_date, 900, 0, 0, 0, $1, '{}', 'test', now())
           RETURNING id`,
          [proposedCents],
        );
        const bk = await client.query(
          "INSERT INTO bookings (tenant_id, quote_id, total_cents) VALUES (current_tenant_id(), $1, $2) RETURNING id",
          [q.rows[0].id, proposedCents],
        );
        await client.query(
          "INSERT INTO invoices (tenant_id, booking_id, actual_rate_cents, invoice_date) VALUES (current_tenant_id(), $1, $2, current_date - $3::int)",
          [bk.rows[0].id, actualCents, daysAgo],
        );
      };
      await invoice(200_000, 210_000, 1); // +100.00
      await invoice(300_000, 270_000, 10); // -300.00
      await invoice(100_000, 100_000, 29); // 0
      await invoice(100_000, 500_000, 45); // outside the window
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    const result = await rateVarianceLast30Days(ops);
    expect(result.invoices).toBe(3);
    expect(result.averageAbsolute).toBe(133.33);
    expect(result.averagePercent).toBeCloseTo((5 + 10 + 0) / 3, 2);
    const { rows } = await ops.query(RATE_VARIANCE_SQL);
    expect(Number(rows[0].avg_abs_variance)).toBe(133.33);
    // The app role reads the same view only for its own tenant: another tenant's context sees nothing.
    const other = await app.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT set_config('app.tenant_id', gen_random_uuid()::text, true)");
      const { rows: none } = await other.query("SELECT count(*)::int AS n FROM invoice_pricing_view");
      expect(none[0].n).toBe(0);
      await other.query("ROLLBACK");
    } finally {
      other.release();
    }
  });
});
