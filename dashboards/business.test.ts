// Every SQL statement the dashboards run, executed against the real migrated schema as the
// read-only freight_ops role Grafana's PostgreSQL datasource uses, over seeded business history.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../tools/postgres/test-database.ts";
import { BUSINESS_QUERIES, bindTimeRange } from "./business.ts";
import { dashboardQueries } from "./queries.ts";
import { seedReportHistory } from "../tools/platform/report-history.ts";

const DAY = 86_400_000;
const now = new Date();
let db: TestDatabase;
let ops: pg.Client;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  await seedReportHistory({ urls: db.urls, now });
  ops = new pg.Client({ connectionString: db.urls.ops });
  await ops.connect();
});
afterAll(async () => {
  await ops?.end();
  await db?.stop();
});

async function value(sql: string, from: Date, to: Date): Promise<number | null> {
  const { rows } = await ops.query<{ value: number | null }>(bindTimeRange(sql, from, to));
  expect(rows).toHaveLength(1);
  return rows[0]?.value ?? null;
}

describe("business SQL of the dashboards", () => {
  const sqlPanels = dashboardQueries().filter((q) => q.rawSql !== undefined);

  it("covers every business figure", () => {
    expect(sqlPanels.map((q) => q.rawSql).sort()).toEqual(BUSINESS_QUERIES.map((q) => q.sql).sort());
  });

  it.each(sqlPanels.map((q) => [`${q.dashboard} / ${q.panel}`, q.rawSql as string]))(
    "%s runs as freight_ops over the last 30 days and answers one number",
    async (_panel, sql) => {
      const result = await value(sql, new Date(now.getTime() - 30 * DAY), now);
      expect(typeof result).toBe("number");
      expect(Number.isFinite(result)).toBe(true);
    },
  );

  it("reports ratios between 0 and 1, and money in dollars", async () => {
    const from = new Date(now.getTime() - 28 * DAY);
    for (const query of BUSINESS_QUERIES) {
      const result = await value(query.sql, from, now);
      if (query.unit === "percentunit" && query.id !== "nrr") {
        expect(result, query.id).toBeGreaterThanOrEqual(0);
        expect(result, query.id).toBeLessThanOrEqual(1);
      }
    }
    // Plans cost $99-$2,500 a month: ARPA must be in that range, not in cents.
    const arpa = await value(BUSINESS_QUERIES.find((q) => q.id === "arpa")!.sql, from, now);
    expect(arpa).toBeGreaterThan(99);
    expect(arpa).toBeLessThan(2_500 * 1.5);
  });

  it("quote -> book agrees with counting the rows directly", async () => {
    const from = new Date(now.getTime() - 7 * DAY);
    const direct = await ops.query<{ quotes: number; booked: number }>(
      `SELECT count(*)::int AS quotes, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM bookings b WHERE b.quote_id = q.id))::int AS booked
         FROM quotes q WHERE q.created_at >= $1 AND q.created_at < $2`,
      [from, now],
    );
    const row = direct.rows[0]!;
    expect(row.quotes).toBeGreaterThan(1000);
    const sql = BUSINESS_QUERIES.find((q) => q.id === "quote_to_book")!.sql;
    expect(await value(sql, from, now)).toBeCloseTo(row.booked / row.quotes, 10);
  });

  it("counts a cancellation as churn and lowers NRR", async () => {
    const from = new Date(now.getTime() - 28 * DAY);
    const churn = await value(BUSINESS_QUERIES.find((q) => q.id === "logo_churn")!.sql, from, now);
    const nrr = await value(BUSINESS_QUERIES.find((q) => q.id === "nrr")!.sql, from, now);
    // The seed cancels established customers in the last four weeks.
    expect(churn).toBeGreaterThan(0);
    expect(nrr).toBeLessThan(1.1);
  });

  it("answers null, not an error, for a period without data", async () => {
    const from = new Date("2001-01-01T00:00:00Z");
    const to = new Date("2001-01-08T00:00:00Z");
    for (const id of [
      "trial_to_paid",
      "quote_to_book",
      "invite_to_onboard",
      "overage_share",
      "nps_trial_day_21",
      "nps_paid_day_90",
      "nps_response_rate",
    ]) {
      expect(await value(BUSINESS_QUERIES.find((q) => q.id === id)!.sql, from, to), id).toBeNull();
    }
  });

  it("rejects Grafana macros it cannot bind, naming the macro", () => {
    expect(() => bindTimeRange("SELECT $__timeGroup(created_at, '1d')", now, now)).toThrow(/\$__timeGroup/);
  });
});
