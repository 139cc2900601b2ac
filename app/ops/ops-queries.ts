// The ops queries, kept verbatim in .sql files so ops can paste them into psql as they are.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";

const dir = join(dirname(fileURLToPath(import.meta.url)), "queries");
export const AGENT_SUCCESS_SQL = readFileSync(join(dir, "agent-success-last-60-minutes.sql"), "utf8");
export const RATE_VARIANCE_SQL = readFileSync(join(dir, "rate-variance-last-30-days.sql"), "utf8");

export async function agentSuccessLastHour(ops: pg.Pool): Promise<{ percent: number | null; tasks: number }> {
  const { rows } = await ops.query<{ agent_success_pct: string | null; tasks: number }>(AGENT_SUCCESS_SQL);
  const row = rows[0];
  return {
    percent: row?.agent_success_pct == null ? null : Number(row.agent_success_pct),
    tasks: row?.tasks ?? 0,
  };
}

export async function rateVarianceLast30Days(
  ops: pg.Pool,
): Promise<{ averageAbsolute: number | null; averagePercent: number | null; invoices: number }> {
  const { rows } = await ops.query<{
    avg_abs_variance: string | null;
    avg_abs_variance_pct: string | null;
    invoices: number;
  }>(RATE_VARIANCE_SQL);
  const row = rows[0];
  return {
    averageAbsolute: row?.avg_abs_variance == null ? null : Number(row.avg_abs_variance),
    averagePercent: row?.avg_abs_variance_pct == null ? null : Number(row.avg_abs_variance_pct),
    invoices: row?.invoices ?? 0,
  };
}
