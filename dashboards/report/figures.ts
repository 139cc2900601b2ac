// The business half of the executive report: the dashboard's SQL (business.ts), run with the
// read-only freight_ops role for the reported week and for each of the weeks before it (trends).
import pg from "pg";
import { usageWarningCounts } from "../../app/ops/usage-warnings.ts";
import { BUSINESS_QUERIES, bindTimeRange, type BusinessQuery } from "../business.ts";

export const WEEK_MS = 7 * 86_400_000;

export interface WeekFigures {
  from: Date;
  to: Date;
  values: Record<string, number | null>;
}

export interface BusinessFigures {
  queries: readonly BusinessQuery[];
  /** The reported week last; earlier weeks first, for the trend charts. */
  weeks: WeekFigures[];
  /** NRR and churn over the four weeks ending with the reported week: one week is too short to read. */
  fourWeeks: { from: Date; to: Date; nrr: number | null; churn: number | null };
  /** Tenants at 80/90/100 % of a meter right now, by meter and level. */
  meterWarnings: { meter: string; level: string; tenants: number }[];
}

async function run(client: pg.Pool, query: BusinessQuery, from: Date, to: Date): Promise<number | null> {
  try {
    const { rows } = await client.query<{ value: number | string | null }>(
      bindTimeRange(query.sql, from, to),
    );
    const value = rows[0]?.value;
    return value === null || value === undefined ? null : Number(value);
  } catch (error) {
    throw new Error(`Business figure "${query.id}" failed: ${(error as Error).message}`);
  }
}

export async function businessFigures(
  opsDatabaseUrl: string,
  weekEnding: Date,
  weeks = 8,
): Promise<BusinessFigures> {
  const pool = new pg.Pool({ connectionString: opsDatabaseUrl, max: 2 });
  try {
    const result: WeekFigures[] = [];
    for (let i = weeks - 1; i >= 0; i--) {
      const to = new Date(weekEnding.getTime() - i * WEEK_MS);
      const from = new Date(to.getTime() - WEEK_MS);
      const values: Record<string, number | null> = {};
      for (const query of BUSINESS_QUERIES) values[query.id] = await run(pool, query, from, to);
      result.push({ from, to, values });
    }
    const monthFrom = new Date(weekEnding.getTime() - 4 * WEEK_MS);
    const byId = (id: string) => BUSINESS_QUERIES.find((q) => q.id === id) as BusinessQuery;
    return {
      queries: BUSINESS_QUERIES,
      weeks: result,
      fourWeeks: {
        from: monthFrom,
        to: weekEnding,
        nrr: await run(pool, byId("nrr"), monthFrom, weekEnding),
        churn: await run(pool, byId("logo_churn"), monthFrom, weekEnding),
      },
      meterWarnings: await usageWarningCounts(pool),
    };
  } catch (error) {
    const e = error as Error & { code?: string };
    if (e.code === "ECONNREFUSED" || e.code === "28P01") {
      throw new Error(
        `Cannot read the business figures from PostgreSQL: ${e.message}. Pass --database-url for the freight_ops role.`,
      );
    }
    throw error;
  } finally {
    await pool.end();
  }
}
